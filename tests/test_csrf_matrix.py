"""CSRF, generated from app.url_map: no POST is taken without the session's token, and no GET
changes anything.

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
from route_walk import PostedForm, form_for, forms_of, object_pages, routes, signed_in
from snapshot_support import changes, grown, snapshot

every_id = route_walk.every_id  # the shared fixture: a couple with a row behind every id

# Compared exactly, every table but one: audit_event, the append-only hash-chained trail. A
# refused POST records nothing today (the audit hook skips every response of 400 and up, and
# the CSRF check runs before any view), which the test reports; recording refusals would be
# legitimate, so new events are allowed at the end, but no existing event may change or go.
# login_failure (the sign-in throttle) is compared exactly on purpose: a token-less sign-in
# must not count as a failed attempt, or a cross-site form could lock an account out.
APPEND_ONLY = ("counselor_audit_event",)


def every_form(app, client, ids, make_therapist, therapist) -> dict[str, PostedForm]:
    """The form behind every POST route, filled in: the owner's, the admin pages' (as an
    administrator sees them) and the sign-in form with the owner's real credentials."""
    forms = forms_of(app, client, ids)
    admin = signed_in(app, make_therapist("Ada Administrator", admin=True))
    admin_pages = [
        route.url(ids)
        for route in routes(app)
        if route.endpoint.startswith("admin.") and "GET" in route.methods
    ]
    forms |= forms_of(app, admin, ids, admin_pages)
    visitor = app.test_client()
    forms |= forms_of(app, visitor, ids, ["/login"])
    forms["auth.login"].data |= {"email": [therapist.email], "password": [PASSWORD]}
    return forms


def post_routes(app):
    return [route for route in routes(app) if "POST" in route.methods]


def test_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(
    app, logged_in, therapist, every_id, make_therapist
):
    """Every POST route, as the signed-in owner, with the form the page would send but (a) no
    CSRF token at all, or (b) a real token of another session: 400, and not a row changed."""
    forms = every_form(app, logged_in, every_id, make_therapist, therapist)
    foreign = app.test_client().csrf_token()  # validly signed, but not for this session
    todo = [(route, variant) for route in post_routes(app) for variant in ("none", "foreign")]
    failures = []
    start = before = snapshot(app)
    for route, variant in todo:
        form = form_for(route, forms, every_id)
        response = logged_in.post(
            form.url, data=form.payload(None if variant == "none" else foreign)
        )
        refused = response.status_code == 400 and CSRF_MESSAGE in response.get_data(as_text=True)
        after = snapshot(app)
        changed = changes(before, after, append_only=APPEND_ONLY)
        if not refused or changed:
            failures.append(
                f"POST {route.endpoint} {form.url} with {variant} token: "
                f"{response.status_code} {response.headers.get('Location', '')} {changed}"
            )
            before = after
    assert not failures, "must be refused as CSRF and change nothing:\n" + "\n".join(failures)
    # Signing out without a token did not sign the owner out either.
    assert logged_in.get("/").status_code == 200
    print(
        f"\n{len(todo)} POSTs without the session's CSRF token refused "
        f"({len(todo) // 2} routes x 2); audit events added: {grown(start, after, 'audit_event')}"
    )


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


def test_no_get_changes_anything(app, logged_in, every_id, make_therapist):
    """Every GET route, on every row of the owner's couple, as the owner; the admin pages as
    an administrator; the public ones signed out: no table changes but the audit trail."""
    admin = signed_in(app, make_therapist("Ada Administrator", admin=True))
    visitor = app.test_client()
    pages = object_pages(app, every_id)
    admin_paths = {
        route.url(every_id)
        for route in routes(app)
        if route.endpoint.startswith("admin.") and "GET" in route.methods
    }
    failures: list[str] = []
    statuses: dict[str, Counter] = {}
    start = before = snapshot(app)
    for client, who in ((logged_in, "owner"), (admin, "admin"), (visitor, "visitor")):
        for url in pages:
            if who == "admin" and url not in admin_paths:
                continue
            response = client.get(url)
            response.close()
            statuses.setdefault(who, Counter())[response.status_code] += 1
            after = snapshot(app)
            changed = changes(before, after, append_only=APPEND_ONLY)
            refused = response.status_code >= 400 and not (
                who == "owner" and url in admin_paths and response.status_code == 403
            )
            if (who != "visitor" and refused) or response.status_code >= 500 or changed:
                failures.append(f"GET {url} as the {who}: {response.status_code} {changed}")
                before = after
    assert not failures, "a GET changed something:\n" + "\n".join(failures)
    assert statuses["admin"] == {200: len(admin_paths)}, statuses
    print(
        f"\n{sum(sum(c.values()) for c in statuses.values())} GETs changed nothing but the "
        f"audit trail ({grown(start, after, 'audit_event')} events); statuses: {statuses}"
    )
