"""Mounting into a host practice-management app, and the error pages."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import text

from conftest import PASSWORD, login
from counselor_app import init_app
from counselor_app.extensions import db
from counselor_app.models import Therapist
from counselor_app.schema import upgrade


def test_mounts_under_a_prefix_in_a_host_app(tmp_path, app):
    host = Flask("host_practice", instance_path=str(tmp_path))
    host.config.update(
        SECRET_KEY="host-secret",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
    )

    @host.route("/")
    def host_home() -> str:
        return "host home"

    init_app(host, url_prefix="/therapy")
    with host.app_context():
        upgrade()
    client = host.test_client()
    assert client.get("/").get_data(as_text=True) == "host home"
    page = client.get("/therapy/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    links = re.findall(r'(?:href|action)="(/[^"]*)"', html)
    assert links and all(link.startswith("/therapy/") for link in links), links
    stylesheet = client.get("/therapy/counselor-static/css/app.css")
    assert stylesheet.status_code == 200
    stylesheet.close()
    assert client.get("/therapy/").headers["Location"].startswith("/therapy/login")
    # A therapist signs in through the mounted package; the host's own pages keep working.
    with host.app_context():
        from counselor_app.auth.services import create_therapist

        create_therapist("Host User", "host@example.org", PASSWORD)
        db.session.commit()
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    signed_in = client.post(
        "/therapy/login",
        data={"csrf_token": token, "email": "host@example.org", "password": PASSWORD},
    )
    assert signed_in.status_code == 302
    assert client.get("/therapy/").status_code == 200
    assert client.get("/").get_data(as_text=True) == "host home"
    assert host.config["IDLE_TIMEOUT"].total_seconds() == 30 * 60
    with host.app_context():
        db.engine.dispose()


def test_unexpected_error_shows_the_500_page_without_details(app, client, therapist):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom() -> str:
        # A failed statement leaves a PostgreSQL transaction aborted: the handler must roll it
        # back before anything else touches the session.
        db.session.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    @app.route("/after")
    def after() -> str:
        return db.session.get(Therapist, therapist.id).name

    login(client, therapist)
    response = client.get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert "simulated failure" not in page  # no stack trace or message shown to the user
    assert "no_such_table" not in page  # no SQL or stack trace shown to the user
    assert 'class="site-header"' in page  # rendered in the base layout
    assert client.get("/after").get_data(as_text=True) == "Dana Whitfield"


def test_404_page_is_in_the_base_layout(logged_in):
    response = logged_in.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Not found" in page and 'class="site-header"' in page


def test_the_health_check_answers_without_a_session_or_database(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"
    assert "Set-Cookie" not in response.headers
