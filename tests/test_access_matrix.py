"""Access control, generated from the URL map: another therapist's ids lead nowhere.

Every route is covered by one rule: a route whose URL names a database row (``<counselor_id:...>``)
answers 404 to another therapist for every method, whatever was posted, and changes no row;
the routes without ids are classified below, one by one. A route added later with an id is
covered by the id rule as it stands; one without an id fails the classification test until
someone decides what it is. And under one's own couple, a row of another couple (one's own
other couple, or another therapist's) is a 404 too: the couple in the URL must own the row.

Each test runs standalone (``create_app``) and mounted in the reference host
(``examples/host_app``, tests/host_support.py), walking that app's own URL map: our routes are
the endpoints under the parent blueprint's name, and the host's own are never walked.
"""

from __future__ import annotations

import re
from itertools import product
from urllib.parse import urlsplit

import route_walk
from host_support import clinician, host, host_template, other_clinician  # noqa: F401
from route_walk import (
    CHILD_ROWS,
    DELIVERY_FORMS,
    PARTNER_A_EMAIL,
    PostedForm,
    Practice,
    build_every_id,
    form_for,
    forms_of,
    forms_on,
    mount_of,
    routes,
    snapshot,
    typed_by_the_owner,
)
from snapshot_support import changes, grown

# The shared fixtures: a seeded practice (standalone, or mounted in the reference host) and the
# bare apps.
standalone, mounted = route_walk.standalone, route_walk.mounted
any_app = route_walk.any_app

# The routes without an id, each with what it is, named without the parent blueprint's name
# ("couples.index" is "counselor.couples.index" in app.url_map). Public: open to anyone.
PUBLIC = {
    "auth.login": "the sign-in page",
    "static": "the package's CSS and JavaScript",
    "print_css": "the PDFs' print stylesheet",
    "health": "a fixed 'ok' for load balancers, no data",
    "ready": "readiness for load balancers: one word per check, no data",
    "fhir.questionnaire": "an instrument as a FHIR Questionnaire: the questions, no answers",
}
# Own scope: a signed-in therapist's own records only, found through the signed-in therapist;
# there is no id in the URL that could name another therapist's. ``<key>`` names a strategy of
# the therapist's own library (shipped, reworded or their own): another's own strategy is a 404.
OWN_SCOPE = {
    "couples.index": "the dashboard: one's own couples",
    "couples.create": "a new couple of one's own",
    "couples.search": "searching one's own couples (the search is kept in one's session)",
    "library.index": "one's library",
    "library.detail": "a strategy of one's library",
    "library.edit": "rewording a strategy of one's library",
    "library.restore": "back to the shipped wording, in one's library",
    "library.create": "a strategy of one's own",
    "auth.change_password": "one's own password",
    "auth.logout": "signing oneself out",
    "auth.session_status": "how long one's own session has left",
    "auth.keep_alive": "keeping one's own session from its idle time-out",
    "calendars.settings": "one's own calendar feed: whether there is one",
    "calendars.make_feed": "a new link for one's own calendar feed",
    "calendars.revoke_feed": "stopping one's own calendar feed",
    "calendars.appointments_csv": "one's own appointments as CSV",
}
# The practice owner's pages: 403 to any therapist who is not an administrator, ids or not.
ADMIN = {
    "admin.therapists": "the practice's therapists",
    "admin.add_therapist": "adding a therapist",
    "admin.audit_trail": "the audit trail",
    "admin.practice": "the practice's name and paper size",
    "admin.audit_csv": "the audit trail as CSV, filtered as on its page",
    "admin.activate_therapist": "reactivating an account (therapist id)",
    "admin.deactivate_therapist": "deactivating an account (therapist id)",
}
# A partner's pages: no therapist's sign-in, only the partner session that the personal link is
# exchanged for (partner.views), so no id in the URL: the session names the one invitation.
# Without that session, a neutral 404; with it, never a therapist's page (a 403). Walked with
# partners' sessions in test_partner_access, not here.
PARTNER = {
    "partner_link": "the personal link: exchanged for the partner's session",
    "partner.welcome": "who asks, what for",
    "partner.intake_start": "the first intake page still missing answers",
    "partner.intake_page": "a page of one's own intake",
    "partner.intake_finish": "sending one's intake",
    "partner.check_in": "one's check-in",
    "partner.paused": "saved for later: the session ends",
    "partner.done": "thanks, naming nobody: the session ends",
}
# Keyed by a secret of its own in the URL: the calendar feed a therapist's phone subscribes to
# (no session can carry it). An unknown or revoked token is a 404 (tests/test_calendars.py).
KEYED = {"calendars.feed": "one therapist's upcoming appointments, initials only"}
CLASSIFIED = {**PUBLIC, **OWN_SCOPE, **ADMIN, **PARTNER, **KEYED}
# Standalone only: mounted, the host signs its clinicians in and out, and we have no such page.
SIGN_IN = {
    "auth.login",
    "auth.change_password",
    "auth.logout",
    "auth.session_status",
    "auth.keep_alive",
}
# Mounted, a 404 even to an administrator: accounts come from the host (admin required first).
NOT_MOUNTED = {"admin.add_therapist"}

# Rows that may change while a refused request is made. audit_event: the append-only,
# hash-chained trail; a refused request adds no event today (the hook records successful
# requests only), but recording refusals would be legitimate, so new events are allowed at the
# end; no existing event may change or go (the chain would break). Nothing else is excluded:
# login_failure (the sign-in throttle) is compared exactly, since no request here signs in;
# mounted, the host's own tables are compared too.
APPEND_ONLY = ("counselor_audit_event",)
COUPLE_NAMES = re.compile(r"\b(Alex|Sam)\b")  # the partners of every_id's couple (add_couple)
# The couples whose rows the child-id walk borrows: the owner's second couple, and another
# therapist's.
SIBLING, STRANGER = ("Robin", "Kim"), ("Jordan", "Lee")
BORROWED_NAMES = re.compile(r"\b(Robin|Kim|Jordan|Lee)\b")
# What changes a partner's link: the delivery page's token no longer prints or emails after.
LINK_CHANGES = ("couple.invitations.reissue", "couple.invitations.revoke")


def rule_of(route) -> str:
    """What the route must answer to a signed-in therapist who does not own its rows."""
    if route.name in ADMIN:
        return "admin"
    if route.id_arguments:
        return "object"
    if route.name in PUBLIC:
        return "public"
    if route.name in OWN_SCOPE:
        return "own"
    if route.name in PARTNER and route.partner:
        return "partner"
    if route.name in KEYED:
        return "keyed"
    return "unclassified"


def pairs(app, rule: str) -> list[tuple[route_walk.Route, str]]:
    return [
        (route, method)
        for route in routes(app)
        if rule_of(route) == rule
        for method in sorted(route.methods)
    ]


def admin_forms(practice: Practice) -> dict[str, PostedForm]:
    """The admin pages' forms, as an administrator is shown them."""
    app, ids = practice.app, practice.ids
    pages = [route.url(ids) for route, _ in pairs(app, "admin") if "GET" in route.methods]
    return forms_of(app, practice.admin, ids, pages)


def request(client, route, method: str, forms, ids, token: str, *, at_ids: bool = False):
    """GET the route, or POST the form its pages post, with ``token`` as the CSRF token.

    ``at_ids``: post the form to the route with ``ids`` rather than where the page posted it
    (the page's own ids): for ids the pages never show.
    """
    if method == "GET":
        response = client.get(route.url(ids))
    else:
        form = form_for(route, forms, ids)
        url = form.url
        if at_ids:
            query = urlsplit(url).query
            url = route.url(ids) + (f"?{query}" if query else "")
        response = client.post(url, data=form.payload(token))
    response.close()
    return response


def walk(app, client, todo, forms, ids, token, expected, *, at_ids: bool = False) -> list[str]:
    """Request each (route, method); name every one that answers otherwise or changes a row."""
    failures = []
    before = snapshot(app)
    for route, method in todo:
        response = request(client, route, method, forms, ids, token, at_ids=at_ids)
        after = snapshot(app)
        changed = changes(before, after, append_only=APPEND_ONLY)
        status = response.status_code
        if not expected(status, response) or changed:
            where = response.headers.get("Location", "")
            failures.append(f"{method} {route.name} {route.url(ids)}: {status} {where} {changed}")
            before = after  # blame the next route for its own changes only
    return failures


def test_every_route_is_classified_or_takes_an_id(any_app):
    """A new route without an id must be classified here before it can pass unnoticed."""
    app = any_app
    found = routes(app)
    unclassified = [f"{r.name} {r.rule}" for r in found if rule_of(r) == "unclassified"]
    assert not unclassified, f"classify these routes in {__name__}: {unclassified}"
    mounted = not mount_of(app).standalone_sign_in
    names = {route.name for route in found}
    stale = set(CLASSIFIED) - names - (SIGN_IN if mounted else set())
    assert not stale, f"classified but not in app.url_map: {sorted(stale)}"
    if mounted:
        # The host's sign-in is the only one; the host's own routes are not ours to walk.
        assert not {n for n in names if n.startswith("auth.")}, names
        prefix = mount_of(app).url_prefix
        assert prefix and all(r.rule.startswith(f"{prefix}/") for r in found), prefix
        hosts = {r.endpoint for r in app.url_map.iter_rules()} - {r.endpoint for r in found}
        assert {"auth.login", "webhooks.calendar", "admin.users"} <= hosts, hosts
    # An id in a public, own-scope or partner URL would escape the id rule: it must not happen
    # unseen (a partner's URL never names a row: the session names the invitation).
    mixed = [
        r.name
        for r in found
        if r.id_arguments and r.name in {**PUBLIC, **OWN_SCOPE, **PARTNER, **KEYED}
    ]
    assert not mixed, f"takes an id, so the id rule covers it; unclassify: {mixed}"
    # Every partner page is one the app itself lets through to the partner's own views.
    assert {r.name for r in found if r.partner} == set(PARTNER), sorted(r.name for r in found)
    admin_pages = {r.name for r in found if r.name.startswith("admin.")}
    assert admin_pages <= set(ADMIN), f"admin pages missing from ADMIN: {admin_pages - set(ADMIN)}"
    rules = ("object", "admin", "own", "public", "partner", "keyed")
    counts = {rule: len(pairs(app, rule)) for rule in rules}
    assert sum(counts.values()) == sum(len(route.methods) for route in found)
    print(f"\n(route, method) pairs of ours in app.url_map: {sum(counts.values())}: {counts}")


def not_found(names: re.Pattern[str]):
    def check(status, response) -> bool:
        """A 404, and the error page says nothing of the couple either."""
        return status == 404 and not names.search(response.get_data(as_text=True))

    return check


def another_therapists_ids_answer_404_and_change_nothing(practice: Practice) -> None:
    """Therapist 2 requests every id route of therapist 1's couple with every method."""
    app, ids = practice.app, practice.ids
    forms = forms_of(app, practice.owner, ids)
    token = practice.other.csrf_token()
    todo = pairs(app, "object")
    before = snapshot(app)

    failures = walk(app, practice.other, todo, forms, ids, token, not_found(COUPLE_NAMES))

    assert not failures, "another therapist's ids must be a 404 and change nothing:\n" + (
        "\n".join(failures)
    )
    bare = [r.name for r, m in todo if m == "POST" and r.name not in forms]
    print(
        f"\n{len(todo)} (route, method) pairs with ids answered 404 to another therapist; "
        f"{sum(1 for _, m in todo if m == 'POST')} POSTs, with a CSRF token only (no form on "
        f"the owner's pages): {bare}; audit events added: "
        f"{grown(before, snapshot(app), 'counselor_audit_event')}"
    )
    assert len({route.name for route, _ in todo}) >= 30


def own_couple_with_another_couples_child_ids_answers_404_and_changes_nothing(
    practice: Practice,
) -> None:
    """The signed-in therapist's own couple in the URL, and the plan, document, appointment
    (its check-ins, note, homework, flag statuses), check-in, flag or partner's link of another
    couple: of the same therapist, and of another therapist. Every route with a child id (found
    in the URL map: a new kind of id fails until it has a row in ``CHILD_ROWS``), every method:
    a 404, and not a row changed. The couple in the URL must own the row, not merely the
    therapist (couples.views.child_or_404).
    """
    app, ids, owner = practice.app, practice.ids, practice.owner
    forms = forms_of(app, owner, ids)
    token = owner.csrf_token()  # the owner's own, valid: so a 404 is the lookup's, not CSRF's
    borrowed = {
        "the owner's other couple": build_every_id(app, owner, practice.owner_id, SIBLING),
        "another therapist's couple": build_every_id(
            app, practice.other, practice.other_id, STRANGER
        ),
    }
    todo = [
        (route, method)
        for route in routes(app)
        if route.child_id_arguments
        for method in sorted(route.methods)
    ]
    kinds = set().union(*(route.child_id_arguments for route, _ in todo))
    assert kinds == CHILD_ROWS.keys(), (
        f"child ids in the URL map: {sorted(kinds)}; give every kind a row in "
        "route_walk.CHILD_ROWS and build_every_id"
    )
    failures = []
    for (whose, theirs), name in product(borrowed.items(), sorted(kinds)):
        # One id borrowed at a time, the URL's other ids the couple's own: a row nested under
        # another in the URL (an appointment's, a plan's) must be the couple's too.
        mixed = {**ids, name: theirs[name]}
        named = [(route, method) for route, method in todo if name in route.child_id_arguments]
        found = walk(app, owner, named, forms, mixed, token, not_found(BORROWED_NAMES), at_ids=True)
        failures += [f"{whose}'s {name}: {failure}" for failure in found]

    assert not failures, "another couple's rows under one's own couple must be a 404:\n" + (
        "\n".join(failures)
    )
    posted = another_couples_rows_in_the_forms_are_refused(practice, forms, token, borrowed)
    requests = sum(len(route.child_id_arguments) for route, _ in todo) * len(borrowed)
    print(
        f"\n{len(todo)} (route, method) pairs with a child id ({sorted(kinds)}), each id in turn "
        f"another's under the owner's couple, for {len(borrowed)} other couples: {requests} "
        f"requests answered 404; forms naming a row by id: {posted}"
    )
    assert len({route.name for route, _ in todo}) >= 15


# Forms that name a row by id and take only some rows of that kind: the key in ``ids`` of the
# row they take for that field, what else the owner chooses, and the status when taken (302
# otherwise). A check-in link is for an upcoming appointment (``ids``'s appointment was held).
CHOOSING = {
    "couple.invitations.create": (
        {"appointment_id": "upcoming_appointment_id"},
        {"purpose": ["check_in"]},
        201,
    ),
}


def another_couples_rows_in_the_forms_are_refused(practice, forms, token, borrowed) -> list[str]:
    """The same in a form's fields: one's own couple's appointment (new, or its details) with
    another couple's session plan chosen, or a check-in link for another couple's upcoming
    appointment, is refused, and changes nothing; with the couple's own rows, the same form is
    taken (so the refusal is the row's, not the form's)."""
    app, owner, ids = practice.app, practice.owner, practice.ids
    named = {name: form for name, form in forms.items() if form.data.keys() & CHILD_ROWS.keys()}
    assert named, "no form names a row by id any more: drop this check, or find the new one"

    def posted(name, form, rows):
        keys, chosen, _ = CHOOSING.get(name, ({}, {}, 302))
        fields = form.data.keys() & CHILD_ROWS.keys()
        rows = {field: [str(rows[keys.get(field, field)])] for field in fields}
        return sorted(fields), {**form.payload(token), **chosen, **rows}

    failures = []
    for whose, theirs in borrowed.items():
        for name, form in named.items():
            fields, data = posted(name, form, theirs)
            before = snapshot(app)
            response = owner.post(form.url, data=data)
            response.close()
            changed = changes(before, snapshot(app), append_only=APPEND_ONLY)
            if not 400 <= response.status_code < 500 or changed:
                failures.append(f"{whose}: POST {name} {fields}: {response.status_code} {changed}")
    assert not failures, "another couple's row chosen in a form must be refused:\n" + (
        "\n".join(failures)
    )
    for name, form in named.items():  # the control: the couple's own rows
        _, data = posted(name, form, ids)
        response = owner.post(form.url, data=data)
        response.close()
        taken = CHOOSING.get(name, ({}, {}, 302))[2]
        assert response.status_code == taken, (name, response.status_code)
    assert set(CHOOSING) <= set(named), sorted(named)
    return sorted(named)


def the_posted_forms_reach_past_the_ownership_check_for_their_owner(practice: Practice) -> None:
    """The same POSTs from the owner are not refused: so therapist 2's 404 is the ownership
    check, not a form that could never have been accepted. (422 is a form the owner sent as
    shown but that needs a state the couple is not in; it is past the ownership check too.)
    """
    app, owner = practice.app, practice.owner
    ids, forms = practice.ids, forms_of(app, owner, practice.ids)
    token = owner.csrf_token()
    refused, statuses = [], {}
    # Erasing the couple last, so the routes before it find the couple still there; and the
    # link made again or revoked after the slip and the email have sent it back.
    todo = sorted(
        pairs(app, "object"),
        key=lambda pair: (pair[0].name == "couple.erase", pair[0].name in LINK_CHANGES),
    )
    for route, method in todo:
        if method != "POST":
            continue
        form = form_for(route, forms, ids)
        if form.source:  # the page as it is now: versions move as the walk saves
            page = owner.get(form.source).get_data(as_text=True)
            now = {f.name: f for f in reversed(forms_on(app, form.source, page, fill=True))}
            form = typed_by_the_owner(app, ids, now).get(route.name, form)
        response = owner.post(form.url, data=form.payload(token))
        response.close()
        statuses[route.name] = response.status_code
        if response.status_code in (400, 401, 403, 404, 405) or response.status_code >= 500:
            refused.append(f"POST {route.name} {form.url}: {response.status_code}")
        if owner.get(practice.path(f"/couples/{ids['couple_id']}")).status_code == 404:
            # The POST erased the couple: carry on with a new one.
            ids = build_every_id(app, owner, practice.owner_id)
            forms = forms_of(app, owner, ids)
    assert not refused, "the owner's own forms were refused:\n" + "\n".join(refused)
    assert statuses.get("couple.erase") == 302, statuses  # the name typed: erased
    # The link printed and emailed (to partner A's address on record), made again and revoked.
    assert [statuses.get(name) for name in (*DELIVERY_FORMS, *LINK_CHANGES)] == [
        200,
        200,
        200,
        302,
    ], statuses
    assert [to for to, *_ in practice.outbox] == [PARTNER_A_EMAIL], practice.outbox
    print("\nowner's POST statuses:", statuses)


def admin_pages_answer_403_to_a_therapist_and_change_nothing(practice: Practice) -> None:
    """Mounted, the other therapist is a host clinician whom the host does not make an admin."""
    app, ids = practice.app, practice.ids
    forms = admin_forms(practice)
    token = practice.other.csrf_token()
    todo = pairs(app, "admin")

    failures = walk(app, practice.other, todo, forms, ids, token, lambda s, _: s == 403)

    assert not failures, "admin pages must be a 403 to a therapist:\n" + "\n".join(failures)
    assert {m for _, m in todo} == {"GET", "POST"}
    # The forms posted are the pages' own (filled in as an administrator would), but for the
    # id routes' buttons and, mounted, the page that is a 404 to an administrator too.
    formless = {r.name for r, m in todo if m == "POST"} - set(forms)
    assert formless <= {r.name for r, _ in todo if "therapist_id" in r.arguments} | (
        NOT_MOUNTED if practice.mounted else set()
    ), formless
    print(f"\n{len(todo)} admin (route, method) pairs answered 403 to a therapist")


def a_signed_out_visitor_is_sent_to_sign_in(practice: Practice) -> None:
    """Every route but the public ones, every method: a redirect to the sign-in page (ours
    standalone, the host's mounted)."""
    app, ids = practice.app, practice.ids
    forms = forms_of(app, practice.owner, ids) | admin_forms(practice)
    visitor = practice.visitor()
    token = visitor.csrf_token()  # a real token of the visitor's session: so CSRF passes
    todo = [p for rule in ("object", "own", "admin") for p in pairs(app, rule)]

    def to_sign_in(status, response):
        location = urlsplit(response.headers.get("Location", ""))
        return status == 302 and location.path == practice.sign_in_path

    failures = walk(app, visitor, todo, forms, ids, token, to_sign_in)

    assert not failures, "must redirect to the sign-in page:\n" + "\n".join(failures)
    for route, method in pairs(app, "public"):
        if method == "GET":
            response = visitor.get(route.url(ids))
            response.close()
            assert response.status_code == 200, route.name
    print(f"\n{len(todo)} non-public (route, method) pairs sent a visitor to sign in")


def another_therapists_own_strategies_answer_404(practice: Practice) -> None:
    """``<key>`` routes are own-scope: a key of therapist 1's own strategy leads nowhere for
    therapist 2, and a shipped strategy therapist 1 reworded shows therapist 2 the shipped text.
    """
    app, owner, other = practice.app, practice.owner, practice.other
    forms = forms_of(app, owner, practice.ids)
    own = forms["library.create"]
    own.data["title"] = ["Walks after dinner"]
    created = owner.post(own.url, data=own.payload(owner.csrf_token()))
    assert created.status_code == 302, created.get_data(as_text=True)
    key = created.headers["Location"].rsplit("/", 1)[1]
    reword = forms["library.edit"]
    reword.data["title"] = ["Our own wording of quality time"]
    saved = owner.post(reword.url, data=reword.payload(owner.csrf_token()))
    assert saved.status_code == 302
    shipped_url = practice.path("/library/quality_time")
    assert "Our own wording" in owner.get(shipped_url).get_data(as_text=True)

    token = other.csrf_token()
    keyed = [(r, m) for r, m in pairs(app, "own") if "key" in r.arguments]
    own_forms = {
        name: PostedForm(name, form.url.replace("quality_time", key), form.data, (), "")
        for name, form in forms.items()
        if name.startswith("library.")
    }
    failures = walk(app, other, keyed, own_forms, {"key": key}, token, lambda s, _: s == 404)
    assert not failures, "another therapist's strategy must be a 404:\n" + "\n".join(failures)
    assert len(keyed) >= 4, keyed
    shipped = other.get(shipped_url).get_data(as_text=True)
    assert "Our own wording" not in shipped
    assert "Walks after dinner" not in other.get(practice.path("/library")).get_data(as_text=True)


def own_scope_pages_show_nothing_of_another_therapist(practice: Practice) -> None:
    """Therapist 2's own pages, a search for therapist 1's partners included: none of theirs."""
    app, ids, owner, other = practice.app, practice.ids, practice.owner, practice.other
    search = forms_of(app, other, ids, [practice.path("/")])["couples.search"]
    search.data |= {"q": ["Al"], "status": ["all"]}  # therapist 1's couple is Alex and Sam
    for client in (owner, other):
        assert client.post(search.url, data=search.payload(client.csrf_token())).status_code == 302
    assert f"/couples/{ids['couple_id']}" in owner.get(practice.path("/")).get_data(as_text=True)
    checked = 0
    for route, method in pairs(app, "own"):
        if method != "GET":
            continue
        page = other.get(route.url(ids)).get_data(as_text=True)
        assert f"/couples/{ids['couple_id']}" not in page, route.name
        assert not COUPLE_NAMES.search(page), route.name
        checked += 1
    assert checked >= 5


# ------------------------------------------------------------------------------ the tests
# Standalone: one test per check, each on a practice of its own.
def test_another_therapists_ids_answer_404_and_change_nothing(standalone):
    another_therapists_ids_answer_404_and_change_nothing(standalone)


def test_own_couple_with_another_couples_child_ids_answers_404_and_changes_nothing(standalone):
    own_couple_with_another_couples_child_ids_answers_404_and_changes_nothing(standalone)


def test_the_posted_forms_reach_past_the_ownership_check_for_their_owner(standalone):
    the_posted_forms_reach_past_the_ownership_check_for_their_owner(standalone)


def test_admin_pages_answer_403_to_a_therapist_and_change_nothing(standalone):
    admin_pages_answer_403_to_a_therapist_and_change_nothing(standalone)


def test_a_signed_out_visitor_is_sent_to_sign_in(standalone):
    a_signed_out_visitor_is_sent_to_sign_in(standalone)


def test_another_therapists_own_strategies_answer_404(standalone):
    another_therapists_own_strategies_answer_404(standalone)


def test_own_scope_pages_show_nothing_of_another_therapist(standalone):
    own_scope_pages_show_nothing_of_another_therapist(standalone)


# Mounted: every check on one seeded practice, the ones that change nothing first (each walk
# compares the database with its own start), then those that add strategies or erase the couple.
MOUNTED_CHECKS = (
    another_therapists_ids_answer_404_and_change_nothing,
    admin_pages_answer_403_to_a_therapist_and_change_nothing,
    a_signed_out_visitor_is_sent_to_sign_in,
    own_scope_pages_show_nothing_of_another_therapist,
    own_couple_with_another_couples_child_ids_answers_404_and_changes_nothing,
    another_therapists_own_strategies_answer_404,
    the_posted_forms_reach_past_the_ownership_check_for_their_owner,
)


def test_every_check_holds_mounted_in_the_reference_host(mounted):
    """The same checks on the reference host, from its URL map: host clinicians as the two
    therapists (Ben, the other, is no admin of the host's), the host's sign-in page for the
    visitor. Every check runs; the failures of all are reported together."""
    failed = {}
    for check in MOUNTED_CHECKS:
        try:
            check(mounted)
        except AssertionError as error:
            failed[check.__name__] = str(error)
    assert not failed, "mounted:\n" + "\n\n".join(f"{k}: {v}" for k, v in failed.items())
