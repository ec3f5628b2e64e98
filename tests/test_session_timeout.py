"""The warning before our idle sign-out, server side: the clock it asks, and "Stay signed in".

The dialog itself is driven in Chromium (tests/browser/test_session_timeout.py); here, what
the server answers. Asking how long is left is not activity and signs nobody out; staying
signed in is activity, needs the page's CSRF token, and never passes the absolute limit.
Mounted in the reference host, sign-in and its limits are the host's: no warning of ours.
"""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import re
import time
from datetime import timedelta

from sqlalchemy import func, select

from conftest import age_session
from counselor_app.extensions import db
from counselor_app.models import FormDraft
from host_support import PREFIX, clinician, host, host_client, host_template  # noqa: F401

IDLE = 30 * 60
DIALOG = re.compile(r'<dialog id="session-timeout"[^>]*>')


def keep_alive(client, token: str | None = None):
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token is not None:
        headers["X-CSRFToken"] = token
    return client.post("/session/keep-alive", data="{}", headers=headers)


def near_the_absolute_limit(client, seconds_left: int) -> None:
    """As if signed in almost twelve hours ago, and active a moment ago."""
    now = int(time.time())
    with client.session_transaction() as session:
        session["signed_in_at"] = now - 12 * 3600 + seconds_left
        session["seen_at"] = now


def test_every_page_carries_the_warning_with_the_time_left(app, logged_in):
    app.config["COUNSELOR_IDLE_WARNING"] = timedelta(seconds=90)
    page = logged_in.get("/couples/new").get_data(as_text=True)
    dialog = DIALOG.search(page).group(0)
    assert 'aria-labelledby="session-timeout-title"' in dialog
    remaining = int(re.search(r'data-remaining="(\d+)"', dialog).group(1))
    assert IDLE - 5 <= remaining <= IDLE
    assert 'data-warning="90"' in dialog
    assert 'data-status="/session"' in dialog and 'data-keep-alive="/session/keep-alive"' in dialog
    assert "js/session.js" in page
    # "Sign in again" comes back to this page.
    assert 'href="/login?next=/couples/new"' in page


def test_no_warning_for_someone_signed_out(client):
    page = client.get("/login").get_data(as_text=True)
    assert not DIALOG.search(page) and "session.js" not in page


def test_asking_how_long_is_left_is_not_activity(logged_in):
    age_session(logged_in, idle_minutes=20)
    answer = logged_in.get("/session").json
    assert answer["signed_out"] is False and answer["final"] is False
    assert 9 * 60 - 5 <= answer["remaining"] <= 10 * 60
    age_session(logged_in, idle_minutes=11)  # 31 minutes since the last page
    answer = logged_in.get("/session").json
    assert answer["signed_out"] is True and answer["remaining"] == 0
    assert "signed out after 30 minutes without activity" in answer["message"]


def test_a_form_sent_after_the_warning_said_signed_out_is_still_kept(app, logged_in):
    token = logged_in.csrf_token()
    age_session(logged_in, idle_minutes=31)
    assert logged_in.get("/session").json["signed_out"] is True
    response = logged_in.post(
        "/couples/new",
        data={"csrf_token": token, "partner_a-display_name": "Kept Name"},
    )
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormDraft)) == 1


def test_staying_signed_in_restarts_the_idle_clock(logged_in):
    token = logged_in.csrf_token()
    age_session(logged_in, idle_minutes=29)
    answer = keep_alive(logged_in, token)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert IDLE - 5 <= answer.json["remaining"] <= IDLE and answer.json["final"] is False
    age_session(logged_in, idle_minutes=29)  # 58 minutes since the last page
    assert logged_in.get("/").status_code == 200


def test_staying_signed_in_needs_the_pages_csrf_token(logged_in):
    age_session(logged_in, idle_minutes=29)
    assert keep_alive(logged_in).status_code == 400
    assert keep_alive(logged_in, "not-the-token").status_code == 400
    age_session(logged_in, idle_minutes=2)
    assert logged_in.get("/").status_code == 302  # the refused requests kept nobody signed in


def test_the_clock_brings_a_fresh_token_for_a_page_older_than_its_token(app, logged_in):
    """A page left open past its token's life (an hour in production) would see "Stay signed
    in" and its drafts' saves refused: each answer of the clock renews the page's token."""
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    token = logged_in.csrf_token()
    time.sleep(2)
    assert keep_alive(logged_in, token).status_code == 400  # the page's own token has expired
    fresh = logged_in.get("/session", headers={"Accept": "application/json"}).json["csrf_token"]
    assert fresh != token
    answer = keep_alive(logged_in, fresh)
    assert answer.status_code == 200 and answer.json["csrf_token"]


def test_staying_signed_in_never_passes_the_absolute_limit(logged_in):
    token = logged_in.csrf_token()
    near_the_absolute_limit(logged_in, 10 * 60)
    answer = keep_alive(logged_in, token).json
    assert answer["final"] is True
    assert 10 * 60 - 5 <= answer["remaining"] <= 10 * 60
    assert answer["absolute_remaining"] == answer["remaining"]
    # Eleven minutes on, staying signed in all along: the twelve hours are up all the same.
    with logged_in.session_transaction() as session:
        session["signed_in_at"] -= 11 * 60
    refused = keep_alive(logged_in, token)
    assert refused.status_code == 401
    assert "signed in for 12 hours" in refused.json["error"]
    assert logged_in.get("/").status_code == 302


def test_the_warning_says_when_the_end_is_final(logged_in):
    near_the_absolute_limit(logged_in, 20 * 60)
    answer = logged_in.get("/session").json
    # The idle limit is nearer, but staying signed in can give twenty minutes at most.
    assert answer["final"] is True
    assert 20 * 60 - 5 <= answer["absolute_remaining"] <= 20 * 60
    assert answer["remaining"] <= answer["absolute_remaining"]


def test_signed_in_elsewhere_meanwhile_the_sign_in_link_goes_back(logged_in):
    response = logged_in.get("/login?next=/couples/new")
    assert response.status_code == 302 and response.headers["Location"] == "/couples/new"
    response = logged_in.get("/login?next=//evil.example/")
    assert response.headers["Location"] == "/"


def test_mounted_the_hosts_sign_in_has_no_warning_of_ours(host, host_client):
    page = host_client.get(f"{PREFIX}/couples/new").get_data(as_text=True)
    assert "<form" in page  # our page, in the host's layout
    assert not DIALOG.search(page) and "session.js" not in page
    assert host_client.get(f"{PREFIX}/session").status_code == 404
    token = host_client.csrf_token()
    response = host_client.post(f"{PREFIX}/session/keep-alive", headers={"X-CSRFToken": token})
    assert response.status_code == 404
