"""Access control, generated from app.url_map: another therapist's ids lead nowhere.

Every route is covered by one rule: a route whose URL names a database row (``<id:...>``)
answers 404 to another therapist for every method, whatever was posted, and changes no row;
the routes without ids are classified below, one by one. A route added later with an id is
covered by the id rule as it stands; one without an id fails the classification test until
someone decides what it is.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

import route_walk
from route_walk import (
    PostedForm,
    build_every_id,
    form_for,
    forms_of,
    forms_on,
    routes,
    signed_in,
    typed_by_the_owner,
)
from snapshot_support import changes, grown, snapshot

every_id = route_walk.every_id  # the shared fixture: a couple with a row behind every id

# The routes without an id, each with what it is. Public: open to anyone.
PUBLIC = {
    "auth.login": "the sign-in page",
    "static": "the package's CSS and JavaScript",
    "print_css": "the PDFs' print stylesheet",
    "health": "a fixed 'ok' for load balancers, no data",
}
# Own scope: a signed-in therapist's own records only, found through ``current_user``; there is
# no id in the URL that could name another therapist's. ``<key>`` names a strategy of the
# therapist's own library (shipped, reworded or their own): another's own strategy is a 404.
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
}
# The practice owner's pages: 403 to any therapist who is not an administrator, ids or not.
ADMIN = {
    "admin.therapists": "the practice's therapists",
    "admin.add_therapist": "adding a therapist",
    "admin.audit_trail": "the audit trail",
    "admin.practice": "the practice's name and paper size",
    "admin.activate_therapist": "reactivating an account (therapist id)",
    "admin.deactivate_therapist": "deactivating an account (therapist id)",
}
CLASSIFIED = {**PUBLIC, **OWN_SCOPE, **ADMIN}

# Rows that may change while a refused request is made. audit_event: the append-only,
# hash-chained trail; a refused request adds no event today (the hook records successful
# requests only), but recording refusals would be legitimate, so new events are allowed at the
# end; no existing event may change or go (the chain would break). Nothing else is excluded:
# login_failure (the sign-in throttle) is compared exactly, since no request here signs in.
APPEND_ONLY = ("counselor_audit_event",)
COUPLE_NAMES = re.compile(r"\b(Alex|Sam)\b")  # the partners of every_id's couple (make_couple)


def rule_of(route) -> str:
    """What the route must answer to a signed-in therapist who does not own its rows."""
    if route.endpoint in ADMIN:
        return "admin"
    if route.id_arguments:
        return "object"
    if route.endpoint in PUBLIC:
        return "public"
    if route.endpoint in OWN_SCOPE:
        return "own"
    return "unclassified"


def pairs(app, rule: str) -> list[tuple[route_walk.Route, str]]:
    return [
        (route, method)
        for route in routes(app)
        if rule_of(route) == rule
        for method in sorted(route.methods)
    ]


@pytest.fixture
def other(app, make_therapist):
    """Therapist 2, signed in on a client of their own: not an administrator."""
    return signed_in(app, make_therapist("Toni Elsewhere"))


def admin_forms(app, make_therapist, ids) -> dict[str, PostedForm]:
    """The admin pages' forms, as an administrator is shown them."""
    client = signed_in(app, make_therapist("Ada Administrator", admin=True))
    pages = [route.url(ids) for route, _ in pairs(app, "admin") if "GET" in route.methods]
    return forms_of(app, client, ids, pages)


def request(client, route, method: str, forms, ids, token: str):
    """GET the route, or POST the form its pages post, with ``token`` as the CSRF token."""
    if method == "GET":
        response = client.get(route.url(ids))
    else:
        form = form_for(route, forms, ids)
        response = client.post(form.url, data=form.payload(token))
    response.close()
    return response


def walk(app, client, todo, forms, ids, token, expected) -> list[str]:
    """Request each (route, method); name every one that answers otherwise or changes a row."""
    failures = []
    before = snapshot(app)
    for route, method in todo:
        response = request(client, route, method, forms, ids, token)
        after = snapshot(app)
        changed = changes(before, after, append_only=APPEND_ONLY)
        status = response.status_code
        if not expected(status, response) or changed:
            where = response.headers.get("Location", "")
            failures.append(f"{method} {route.endpoint} {route.rule}: {status} {where} {changed}")
            before = after  # blame the next route for its own changes only
    return failures


def test_every_route_is_classified_or_takes_an_id(app):
    """A new route without an id must be classified here before it can pass unnoticed."""
    found = routes(app)
    unclassified = [f"{r.endpoint} {r.rule}" for r in found if rule_of(r) == "unclassified"]
    assert not unclassified, f"classify these routes in {__name__}: {unclassified}"
    stale = set(CLASSIFIED) - {route.endpoint for route in found}
    assert not stale, f"classified but not in app.url_map: {sorted(stale)}"
    # An id in a public or own-scope URL would escape the id rule: it must not happen unseen.
    mixed = [r.endpoint for r in found if r.id_arguments and r.endpoint in {**PUBLIC, **OWN_SCOPE}]
    assert not mixed, f"takes an id, so the id rule covers it; unclassify: {mixed}"
    admin_pages = {r.endpoint for r in found if r.endpoint.startswith("admin.")}
    assert admin_pages <= set(ADMIN), f"admin pages missing from ADMIN: {admin_pages - set(ADMIN)}"
    counts = {rule: len(pairs(app, rule)) for rule in ("object", "admin", "own", "public")}
    assert sum(counts.values()) == sum(len(route.methods) for route in found)
    print(f"\n(route, method) pairs in app.url_map: {sum(counts.values())}: {counts}")


def test_another_therapists_ids_answer_404_and_change_nothing(app, logged_in, every_id, other):
    """Therapist 2 requests every id route of therapist 1's couple with every method."""
    forms = forms_of(app, logged_in, every_id)
    token = other.csrf_token()  # before the walk: fetching it shows the dashboard
    todo = pairs(app, "object")
    before = snapshot(app)

    def not_found(status, response):
        """A 404, and the error page says nothing of the couple either."""
        return status == 404 and not COUPLE_NAMES.search(response.get_data(as_text=True))

    failures = walk(app, other, todo, forms, every_id, token, not_found)

    assert not failures, "another therapist's ids must be a 404 and change nothing:\n" + (
        "\n".join(failures)
    )
    bare = [r.endpoint for r, m in todo if m == "POST" and r.endpoint not in forms]
    print(
        f"\n{len(todo)} (route, method) pairs with ids answered 404 to another therapist; "
        f"{sum(1 for _, m in todo if m == 'POST')} POSTs, with a CSRF token only (no form on "
        f"the owner's pages): {bare}; audit events added: "
        f"{grown(before, snapshot(app), 'audit_event')}"
    )
    assert len({route.endpoint for route, _ in todo}) >= 30


def test_the_posted_forms_reach_past_the_ownership_check_for_their_owner(
    app, logged_in, therapist, every_id, make_couple
):
    """The same POSTs from the owner are not refused: so therapist 2's 404 is the ownership
    check, not a form that could never have been accepted. (422 is a form the owner sent as
    shown but that needs a state the couple is not in; it is past the ownership check too.)
    """
    ids, forms = every_id, forms_of(app, logged_in, every_id)
    token = logged_in.csrf_token()
    refused, statuses = [], {}
    for route, method in pairs(app, "object"):
        if method != "POST":
            continue
        form = form_for(route, forms, ids)
        if form.source:  # the page as it is now: versions move as the walk saves
            page = logged_in.get(form.source).get_data(as_text=True)
            now = {f.endpoint: f for f in reversed(forms_on(app, form.source, page, fill=True))}
            form = typed_by_the_owner(app, ids, now).get(route.endpoint, form)
        response = logged_in.post(form.url, data=form.payload(token))
        response.close()
        statuses[route.endpoint] = response.status_code
        if response.status_code in (400, 401, 403, 404, 405) or response.status_code >= 500:
            refused.append(f"POST {route.endpoint} {form.url}: {response.status_code}")
        if logged_in.get(f"/couples/{ids['couple_id']}").status_code == 404:
            # The POST erased the couple: carry on with a new one.
            ids = build_every_id(app, logged_in, therapist, make_couple)
            forms = forms_of(app, logged_in, ids)
    assert not refused, "the owner's own forms were refused:\n" + "\n".join(refused)
    print("\nowner's POST statuses:", statuses)


def test_admin_pages_answer_403_to_a_therapist_and_change_nothing(
    app, every_id, make_therapist, other
):
    forms = admin_forms(app, make_therapist, every_id)
    token = other.csrf_token()
    todo = pairs(app, "admin")

    failures = walk(app, other, todo, forms, every_id, token, lambda s, _: s == 403)

    assert not failures, "admin pages must be a 403 to a therapist:\n" + "\n".join(failures)
    assert {m for _, m in todo} == {"GET", "POST"}
    print(f"\n{len(todo)} admin (route, method) pairs answered 403 to a therapist")


def test_a_signed_out_visitor_is_sent_to_sign_in(app, logged_in, every_id, make_therapist):
    """Every route but the public ones, every method: a redirect to the sign-in page."""
    forms = forms_of(app, logged_in, every_id) | admin_forms(app, make_therapist, every_id)
    visitor = app.test_client()
    token = visitor.csrf_token()  # a real token of the visitor's session: so CSRF passes
    todo = [p for rule in ("object", "own", "admin") for p in pairs(app, rule)]

    def to_sign_in(status, response):
        return status == 302 and urlsplit(response.headers["Location"]).path == "/login"

    failures = walk(app, visitor, todo, forms, every_id, token, to_sign_in)

    assert not failures, "must redirect to the sign-in page:\n" + "\n".join(failures)
    for route, method in pairs(app, "public"):
        if method == "GET":
            response = visitor.get(route.url(every_id))
            response.close()
            assert response.status_code == 200, route.endpoint
    print(f"\n{len(todo)} non-public (route, method) pairs sent a visitor to sign in")


def test_another_therapists_own_strategies_answer_404(app, logged_in, every_id, other):
    """``<key>`` routes are own-scope: a key of therapist 1's own strategy leads nowhere for
    therapist 2, and a shipped strategy therapist 1 reworded shows therapist 2 the shipped text.
    """
    forms = forms_of(app, logged_in, every_id)
    own = forms["library.create"]
    own.data["title"] = ["Walks after dinner"]
    created = logged_in.post(own.url, data=own.payload(logged_in.csrf_token()))
    assert created.status_code == 302, created.get_data(as_text=True)
    key = created.headers["Location"].rsplit("/", 1)[1]
    reword = forms["library.edit"]
    reword.data["title"] = ["Our own wording of quality time"]
    saved = logged_in.post(reword.url, data=reword.payload(logged_in.csrf_token()))
    assert saved.status_code == 302
    assert "Our own wording" in logged_in.get("/library/quality_time").get_data(as_text=True)

    token = other.csrf_token()
    keyed = [(r, m) for r, m in pairs(app, "own") if "key" in r.arguments]
    own_forms = {
        endpoint: PostedForm(endpoint, form.url.replace("quality_time", key), form.data, (), "")
        for endpoint, form in forms.items()
        if endpoint.startswith("library.")
    }
    failures = walk(app, other, keyed, own_forms, {"key": key}, token, lambda s, _: s == 404)
    assert not failures, "another therapist's strategy must be a 404:\n" + "\n".join(failures)
    shipped = other.get("/library/quality_time").get_data(as_text=True)
    assert "Our own wording" not in shipped
    assert "Walks after dinner" not in other.get("/library").get_data(as_text=True)


def test_own_scope_pages_show_nothing_of_another_therapist(app, logged_in, every_id, other):
    """Therapist 2's own pages, a search for therapist 1's partners included: none of theirs."""
    search = forms_of(app, other, every_id, ["/"])["couples.search"]
    search.data |= {"q": ["Al"], "status": ["all"]}  # therapist 1's couple is Alex and Sam
    for client in (logged_in, other):
        assert client.post(search.url, data=search.payload(client.csrf_token())).status_code == 302
    assert f"/couples/{every_id['couple_id']}" in logged_in.get("/").get_data(as_text=True)
    for route, method in pairs(app, "own"):
        if method != "GET":
            continue
        page = other.get(route.url(every_id)).get_data(as_text=True)
        assert f"/couples/{every_id['couple_id']}" not in page, route.endpoint
        assert not COUPLE_NAMES.search(page), route.endpoint
