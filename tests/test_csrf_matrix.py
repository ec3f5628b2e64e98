"""CSRF, generated from the URL map: no POST is taken without the session's token, and no GET
changes anything. Standalone and mounted in the reference host (examples/host_app), where the
host's CSRFProtect checks our forms and we never refuse a route of the host's. A partner's pages
(``/answer/...``) are walked as partners with a session of their own (opened by their link), with
the forms their pages show; every other route as a therapist.

CSRF is on in the tests as in production: the app never sets WTF_CSRF_ENABLED (Flask-WTF's
default is on, and TESTING does not turn it off), and conftest's client reads the real token
from each page.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import route_walk
from conftest import PASSWORD
from counselor_app.errors import CSRF_MESSAGE
from host_support import clinician, host, host_template, other_clinician  # noqa: F401
from route_walk import (
    PartnerSession,
    PostedForm,
    Practice,
    collect_forms,
    form_for,
    forms_of,
    object_pages,
    routes,
    snapshot,
)
from snapshot_support import changes, grown

# The shared fixtures: a seeded practice, standalone or mounted in the reference host.
standalone, mounted = route_walk.standalone, route_walk.mounted

# Compared exactly, every table but one: audit_event, the append-only hash-chained trail. A
# refused POST records nothing today (the audit hook skips every response of 400 and up, and
# the CSRF check runs before any view), which the test reports; recording refusals would be
# legitimate, so new events are allowed at the end, but no existing event may change or go.
# login_failure (the sign-in throttle) is compared exactly on purpose: a token-less sign-in
# must not count as a failed attempt, or a cross-site form could lock an account out. Mounted,
# the host's tables are compared exactly too.
APPEND_ONLY = ("counselor_audit_event",)
# Mounted, a 404 even to an administrator: accounts come from the host.
NOT_MOUNTED = {"admin.add_therapist"}


def admin_pages(practice: Practice) -> set[str]:
    return {
        route.url(practice.ids)
        for route in routes(practice.app)
        if route.name.startswith("admin.") and "GET" in route.methods
        if not (practice.mounted and route.name in NOT_MOUNTED)
    }


def every_form(practice: Practice) -> dict[str, PostedForm]:
    """The form behind every POST route of ours, filled in: the owner's, the admin pages' (as
    an administrator sees them) and, standalone, the sign-in form with the owner's real
    credentials."""
    app, ids = practice.app, practice.ids
    forms = forms_of(app, practice.owner, ids)
    forms |= forms_of(app, practice.admin, ids, sorted(admin_pages(practice)))
    if not practice.mounted:
        forms |= forms_of(app, practice.visitor(), ids, [practice.path("/login")])
        forms["auth.login"].data |= {"email": [practice.owner_email], "password": [PASSWORD]}
    return forms


def post_routes(app, *, partner: bool = False):
    """Our POST routes: the therapists' (and the sign-in's), or with ``partner`` a partner's."""
    return [r for r in routes(app) if "POST" in r.methods and r.partner == partner]


# A partner's pages that end the session: opened last, and the link opened again after them.
SESSION_ENDS = ("partner.paused", "partner.done")


def partner_pages(practice: Practice) -> list[str]:
    """A partner's GET pages, the ones that end the session last; the link itself aside."""
    found = [r for r in routes(practice.app) if r.partner and "GET" in r.methods]
    found = [r for r in found if "token" not in r.arguments]
    found.sort(key=lambda r: SESSION_ENDS.index(r.name) if r.name in SESSION_ENDS else -1)
    return [route.url(practice.ids) for route in found]


def partner_forms(practice: Practice) -> dict[str, tuple[PartnerSession, PostedForm]]:
    """The form behind every partner POST route, with the partner whose pages show it (a
    check-in's partner never sees an intake page, and the other way round)."""
    app, found = practice.app, {}
    pages = [url for url in partner_pages(practice) if not url.endswith(("/paused", "/done"))]
    for session in practice.partner_sessions.values():
        for name, form in collect_forms(app, session.client, pages, fill=True).items():
            found.setdefault(name, (session, form))
    return found


def posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(practice):
    """Every POST route, as the signed-in owner, with the form the page would send but (a) no
    CSRF token at all, or (b) a real token of another session: 400, and not a row changed.
    Then the same for a partner's POST routes, as partners (below)."""
    app, ids, owner = practice.app, practice.ids, practice.owner
    forms = every_form(practice)
    practice.partner_sessions  # noqa: B018 (opening the links is no part of the walk below)
    foreign = practice.visitor().csrf_token()  # validly signed, but not for this session
    todo = [(route, variant) for route in post_routes(app) for variant in ("none", "foreign")]
    failures = []
    start = before = snapshot(app)
    for route, variant in todo:
        form = form_for(route, forms, ids)
        response = owner.post(form.url, data=form.payload(None if variant == "none" else foreign))
        refused = response.status_code == 400 and CSRF_MESSAGE in response.get_data(as_text=True)
        after = snapshot(app)
        changed = changes(before, after, append_only=APPEND_ONLY)
        if not refused or changed:
            failures.append(
                f"POST {route.name} {form.url} with {variant} token: "
                f"{response.status_code} {response.headers.get('Location', '')} {changed}"
            )
            before = after
    assert not failures, "must be refused as CSRF and change nothing:\n" + "\n".join(failures)
    # Signing out without a token did not sign the owner out either.
    assert owner.get(practice.path("/")).status_code == 200
    real = {route.name for route, _ in todo} & set(forms)
    assert len(real) >= 25, real  # the pages' own forms, not bare tokens
    print(
        f"\n{len(todo)} POSTs without the session's CSRF token refused "
        f"({len(todo) // 2} routes x 2, {len(real)} with the page's own form); audit events "
        f"added: {grown(start, after, 'counselor_audit_event')}"
    )
    partner_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(practice)


def partner_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(practice):
    """Every partner POST route, as a partner whose session reaches it, with the form their
    page shows but no CSRF token, or another session's: 400, and not a row changed. Each
    form is the page's own: a bare token could never have been taken."""
    app = practice.app
    forms = partner_forms(practice)
    foreign = practice.visitor().csrf_token()
    todo = [
        (route, variant)
        for route in post_routes(app, partner=True)
        for variant in ("none", "foreign")
    ]
    missing = sorted({route.name for route, _ in todo} - set(forms))
    assert not missing, f"no partner page shows a form for {missing}"
    failures = []
    before = snapshot(app)
    for route, variant in todo:
        session, form = forms[route.name]
        token = None if variant == "none" else foreign
        response = session.client.post(form.url, data=form.payload(token))
        refused = response.status_code == 400 and CSRF_MESSAGE in response.get_data(as_text=True)
        after = snapshot(app)
        changed = changes(before, after, append_only=APPEND_ONLY)
        if not refused or changed:
            failures.append(
                f"POST {route.name} {form.url} as a partner with {variant} token: "
                f"{response.status_code} {response.headers.get('Location', '')} {changed}"
            )
            before = after
    assert not failures, "must be refused as CSRF and change nothing:\n" + "\n".join(failures)
    assert len(todo) >= 6, todo  # intake pages, sending the intake, the check-in: x 2
    print(f"{len(todo)} partner POSTs without the session's CSRF token refused")


def test_a_sign_in_without_the_token_is_refused_and_not_counted(app, therapist):
    """The right password without the token: refused, still signed out, not a failed attempt."""
    visitor = app.test_client()
    foreign = app.test_client().csrf_token()
    visitor.get("/login").close()  # the session now has a token of its own, not sent below
    before = snapshot(app)
    for token in ({}, {"csrf_token": foreign}):
        data = {"email": therapist.email, "password": PASSWORD, **token}
        response = visitor.post("/login", data=data)
        assert response.status_code == 400, token
        assert CSRF_MESSAGE in response.get_data(as_text=True)
    assert changes(before, snapshot(app)) == {}  # exactly: no throttle row, no audit event
    response = visitor.get("/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def no_get_changes_anything(practice):
    """Every GET route, on every row of the owner's couple, as the owner; the admin pages as
    an administrator; the public ones signed out: no table changes but the audit trail."""
    app, owner = practice.app, practice.owner
    admin, visitor = practice.admin, practice.visitor()
    pages = object_pages(app, practice.ids)
    admin_paths = admin_pages(practice)
    # Mounted, a 404 to everyone: accounts come from the host (see NOT_MOUNTED).
    absent = {
        r.url(practice.ids) for r in routes(app) if practice.mounted and r.name in NOT_MOUNTED
    }
    failures: list[str] = []
    statuses: dict[str, Counter] = {}
    start = before = snapshot(app)
    for client, who in ((owner, "owner"), (admin, "admin"), (visitor, "visitor")):
        for url in pages:
            if who == "admin" and url not in admin_paths:
                continue
            response = client.get(url)
            response.close()
            statuses.setdefault(who, Counter())[response.status_code] += 1
            after = snapshot(app)
            changed = changes(before, after, append_only=APPEND_ONLY)
            refused = response.status_code >= 400 and not (
                (who == "owner" and url in admin_paths and response.status_code == 403)
                or (url in absent and response.status_code == 404)
            )
            if (who != "visitor" and refused) or response.status_code >= 500 or changed:
                failures.append(f"GET {url} as the {who}: {response.status_code} {changed}")
                before = after
    assert not failures, "a GET changed something:\n" + "\n".join(failures)
    assert statuses["admin"] == {200: len(admin_paths)}, statuses
    print(
        f"\n{sum(sum(c.values()) for c in statuses.values())} GETs changed nothing but the "
        f"audit trail ({grown(start, after, 'counselor_audit_event')} events); "
        f"statuses: {statuses}"
    )
    no_partner_get_changes_anything(practice)


def no_partner_get_changes_anything(practice):
    """Every partner GET page, as each partner (an intake's and a check-in's), and the link
    opened again: no table changes but the audit trail. (Only the first opening of a link
    writes: it marks the invitation opened, which Practice.partner_sessions did already.)"""
    app = practice.app
    sessions = practice.partner_sessions
    pages = partner_pages(practice)
    failures, statuses = [], Counter()
    before = snapshot(app)
    for purpose, session in sessions.items():
        for url in pages:
            response = session.client.get(url)
            response.close()
            statuses[response.status_code] += 1
            after = snapshot(app)
            changed = changes(before, after, append_only=APPEND_ONLY)
            if response.status_code >= 500 or changed:
                failures.append(
                    f"GET {url} as the {purpose} partner: {response.status_code} {changed}"
                )
                before = after
        # "paused" and "done" ended the session: the same link opens it again, writing nothing.
        response = session.client.get(urlsplit(session.link).path)
        response.close()
        changed = changes(before, snapshot(app), append_only=APPEND_ONLY)
        if response.status_code != 303 or changed:
            failures.append(f"the {purpose} link opened again: {response.status_code} {changed}")
    assert not failures, "a partner's GET changed something:\n" + "\n".join(failures)
    assert statuses[200] >= len(pages), statuses  # each session's own pages were shown
    print(f"{sum(statuses.values())} partner GETs changed nothing but the audit trail: {statuses}")


# ------------------------------------------------------------------------------ the tests
def test_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(standalone):
    posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(standalone)


def test_no_get_changes_anything(standalone):
    no_get_changes_anything(standalone)


def test_both_hold_mounted_and_the_hosts_own_routes_are_not_refused(mounted):
    """The same two walks on the reference host, from its URL map, on one seeded practice
    (the host's CSRFProtect checks our forms there). And we check our own forms only: a host
    route the host exempted from its CSRFProtect still takes a post without a token."""
    posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(mounted)
    no_get_changes_anything(mounted)
    webhook = mounted.visitor().post("/webhooks/calendar", json={"event": "changed"})
    assert webhook.status_code == 204, webhook.get_data(as_text=True)[:500]
