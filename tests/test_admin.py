"""The practice owner adds and deactivates therapists; nobody else can."""

from __future__ import annotations

import re

from sqlalchemy import select

from conftest import login
from counselor_app.extensions import db
from counselor_app.models import Therapist

ADMIN_PAGES = ["/admin/therapists", "/admin/therapists/new"]


def test_admin_adds_a_therapist_who_can_then_sign_in(app, client, make_therapist):
    admin = make_therapist("Owner", admin=True)
    login(client, admin)
    response = client.post_form(
        "/admin/therapists/new", {"name": "New Colleague", "email": "Colleague@Example.org"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "New Colleague can now sign in" in page
    password = re.search(r"<code>([^<]+)</code>", page).group(1)
    client.post_form("/logout")
    response = client.post_form("/login", {"email": "colleague@example.org", "password": password})
    assert response.status_code == 302


def test_duplicate_email_is_refused_next_to_the_field(app, client, make_therapist):
    admin = make_therapist("Owner", admin=True)
    login(client, admin)
    response = client.post_form(
        "/admin/therapists/new", {"name": "Copy", "email": admin.email.upper()}
    )
    page = response.get_data(as_text=True)
    assert 'id="email-error"' in page
    assert "already exists" in page
    assert 'value="Copy"' in page


def test_admin_deactivates_and_reactivates(app, client, make_therapist):
    admin = make_therapist("Owner", admin=True)
    colleague = make_therapist("Colleague")
    colleague_client = app.test_client()
    login(colleague_client, colleague)
    assert colleague_client.get("/").status_code == 200

    login(client, admin)
    response = client.post_form(
        f"/admin/therapists/{colleague.id}/deactivate", follow_redirects=True
    )
    assert "The account has been deactivated." in response.get_data(as_text=True)
    # The colleague's open session ends at once, and a new sign-in is refused.
    assert colleague_client.get("/").status_code == 302
    assert login(colleague_client, colleague).status_code == 401

    client.post_form(f"/admin/therapists/{colleague.id}/activate")
    assert login(colleague_client, colleague).status_code == 302


def test_admin_cannot_deactivate_themselves(app, client, make_therapist):
    admin = make_therapist("Owner", admin=True)
    login(client, admin)
    response = client.post_form(f"/admin/therapists/{admin.id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Therapist, admin.id).active


def test_non_admin_is_refused_every_admin_page(app, logged_in, make_therapist):
    other = make_therapist("Someone")
    for url in ADMIN_PAGES:
        assert logged_in.get(url).status_code == 403, url
    for url in [
        "/admin/therapists/new",
        f"/admin/therapists/{other.id}/deactivate",
        f"/admin/therapists/{other.id}/activate",
    ]:
        response = logged_in.post_form(url, {"name": "X", "email": "x@example.org"})
        assert response.status_code == 403, url
    with app.app_context():
        assert db.session.get(Therapist, other.id).active
        assert (
            db.session.scalar(select(Therapist).where(Therapist.email == "x@example.org")) is None
        )


def test_admin_pages_ask_anonymous_visitors_to_sign_in(client):
    for url in ADMIN_PAGES:
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
