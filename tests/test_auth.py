"""Signing in and out, deactivated accounts, CSRF, passwords."""

from __future__ import annotations

import pytest

from conftest import PASSWORD, age_session, login
from counselor_app import create_app
from counselor_app.extensions import db
from counselor_app.models import Therapist


def test_login_page_is_served(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Sign in" in response.get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_success_lands_on_dashboard(client, therapist):
    response = login(client, therapist)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Your couples" in page
    assert f"Signed in as {therapist.name}" in page


def test_login_failure_keeps_email_and_says_why(client, therapist):
    response = login(client, therapist, password="not the password at all")
    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "The email or password is not correct." in page
    assert f'value="{therapist.email}"' in page
    assert "not the password at all" not in page  # passwords are never echoed back
    assert client.get("/").status_code == 302


def test_unknown_email_is_refused_with_the_same_message(client):
    response = client.post_form("/login", {"email": "nobody@example.org", "password": PASSWORD})
    assert response.status_code == 401
    assert "The email or password is not correct." in response.get_data(as_text=True)


def test_email_is_matched_without_regard_to_case(client, therapist):
    response = client.post_form("/login", {"email": therapist.email.upper(), "password": PASSWORD})
    assert response.status_code == 302


def test_login_redirects_only_to_local_pages(client, therapist):
    payload = {"email": therapist.email, "password": PASSWORD}
    response = client.post_form("/login?next=https://evil.example.com/", payload)
    assert response.headers["Location"] == "/"
    client.post_form("/logout")
    response = client.post_form("/login?next=/%5Cevil.example.com", payload)  # "/\evil..."
    assert response.headers["Location"] == "/"
    client.post_form("/logout")
    response = client.post_form("/login?next=/couples/new", payload)
    assert response.headers["Location"] == "/couples/new"


def test_logout_ends_the_session_and_a_replayed_cookie_is_refused(client, therapist):
    login(client, therapist)
    cookie = client.get_cookie("counselor_session").value
    response = client.post_form("/logout")
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    client.set_cookie("counselor_session", cookie)
    assert client.get("/").status_code == 302


def test_logout_by_get_is_not_allowed(logged_in):
    assert logged_in.get("/logout").status_code == 405
    assert logged_in.get("/").status_code == 200


def test_deactivated_account_cannot_sign_in(client, make_therapist):
    retired = make_therapist("Retired Therapist", active=False)
    response = login(client, retired)
    assert response.status_code == 401
    assert "deactivated" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_csrf_token_is_refused(client, therapist):
    response = client.post("/login", data={"email": therapist.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "nothing was saved" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_change_password(app, logged_in, therapist):
    new = "a new and longer passphrase"
    response = logged_in.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert response.status_code == 302
    assert logged_in.get("/").status_code == 200  # still signed in on this device
    logged_in.post_form("/logout")
    assert login(logged_in, therapist, password=new).status_code == 302


def test_change_password_refuses_a_short_one_and_a_wrong_current(app, logged_in, therapist):
    response = logged_in.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
    )
    assert "Use at least 12 characters." in response.get_data(as_text=True)
    new = "a perfectly long passphrase"
    response = logged_in.post_form(
        "/account/password",
        {"current_password": "wrong current one", "new_password": new, "confirm_password": new},
    )
    assert "The current password is not correct." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Therapist, therapist.id).check_password(PASSWORD)


def test_passwords_are_stored_as_scrypt_hashes(app, therapist, tmp_path):
    with app.app_context():
        stored = db.session.get(Therapist, therapist.id).password_hash
    assert stored.startswith("scrypt:")
    assert PASSWORD not in stored
    # The suite hashes cheaply (conftest.FAST_PASSWORD_HASH); an app as shipped hashes at
    # scrypt's full cost, and a hash of either cost is still checked.
    shipped = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"},
        instance_path=str(tmp_path),
    )
    with shipped.app_context():
        full = Therapist(email="x@example.org", name="X")
        full.set_password(PASSWORD)
        assert full.password_hash.startswith("scrypt:32768:8:1$")
        assert full.check_password(PASSWORD)
        assert Therapist(password_hash=stored).check_password(PASSWORD)


def test_ten_failures_lock_the_account_for_a_while(app, client, therapist, make_therapist):
    from datetime import timedelta

    from sqlalchemy import update

    from counselor_app.models import LoginFailure

    for _ in range(10):
        assert login(client, therapist, password="wrong guess here").status_code == 401
    response = login(client, therapist)  # even the right password waits now
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts for this account. Try again in 15 minutes." in page
    assert f'value="{therapist.email}"' in page
    # Another account is not affected.
    other = make_therapist("Colleague")
    assert login(app.test_client(), other).status_code == 302
    # Sixteen minutes later the account may sign in again, and the count starts afresh.
    with app.app_context():
        db.session.execute(
            update(LoginFailure).values(failed_at=LoginFailure.failed_at - timedelta(minutes=16))
        )
        db.session.commit()
    assert login(client, therapist).status_code == 302
    with app.app_context():
        assert db.session.query(LoginFailure).count() == 0


def test_nine_failures_do_not_lock(client, therapist):
    for _ in range(9):
        login(client, therapist, password="wrong guess here")
    assert login(client, therapist).status_code == 302


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("qwertyuiopasdf", "Choose a harder password"),
        ("passwordpassword", "Choose a harder password"),
        ("123qweasdzxc", "one of the most common passwords"),
        ("Dana Whitfield 1", "Choose a harder password"),
        ("x" * 129, "at most 128 characters"),
    ],
)
def test_weak_passwords_are_refused(app, logged_in, therapist, password, message):
    response = logged_in.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": password, "confirm_password": password},
    )
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Therapist, therapist.id).check_password(PASSWORD)


def test_a_long_passphrase_of_100_characters_is_accepted(app, logged_in, therapist):
    new = (
        "the quiet orchard keeps its apples until the first frost of late autumn, "
        "then the geese fly south for the winter"
    )[:100]
    assert len(new) == 100
    response = logged_in.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert response.status_code == 302


def test_idle_for_thirty_minutes_signs_out(logged_in):
    age_session(logged_in, idle_minutes=29)
    assert logged_in.get("/").status_code == 200
    age_session(logged_in, idle_minutes=29)  # 58 minutes in all, but activity reset the clock
    assert logged_in.get("/").status_code == 200
    age_session(logged_in, idle_minutes=31)
    response = logged_in.get("/couples/new")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"] and "next=" in response.headers["Location"]
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after 30 minutes without activity" in page
    assert logged_in.get("/").status_code == 302


def test_twelve_hours_is_the_most_even_when_active(logged_in):
    age_session(logged_in, signed_in_hours=13)
    response = logged_in.get("/")
    assert response.status_code == 302
    assert "signed in for 12 hours" in logged_in.get("/login").get_data(as_text=True)


def test_an_expired_autosave_answers_in_json(app, logged_in, therapist, make_couple):
    from appointment_support import Visit, seed_history

    couple_id = make_couple(therapist)
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    token = logged_in.csrf_token()
    age_session(logged_in, idle_minutes=45)
    response = logged_in.post(
        f"/couples/{couple_id}/appointments/{appointment_id}/note/autosave",
        data={"csrf_token": token, "note-dap_data": "typed while away"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 401
    assert "your text is still on screen" in response.json["error"]


def test_email_variants_share_one_throttle(app, client, therapist):
    variants = [therapist.email.upper(), f"  {therapist.email} ", therapist.email]
    for number in range(10):
        client.post_form("/login", {"email": variants[number % 3], "password": "wrong guess here"})
    assert login(client, therapist).status_code == 429
