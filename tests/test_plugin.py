"""Mounted into a host app: nothing global, namespaced templates and names, the CLI.

Most tests mount the package into the reference host (examples/host_app, through
tests/host_support.py). A few build a bare host of their own to probe one property the reference
host cannot show (no CSRFProtect, an `id` converter of its own, a template folder of its own).
The standalone error pages close the file.
"""
# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from flask import Flask, request
from flask.cli import FlaskGroup
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import select, text
from werkzeug.routing import BaseConverter

import counselor_app
from conftest import add_couple, login
from counselor_app import errors, paths, schema
from counselor_app.couples.views import bp as couples_bp
from counselor_app.extensions import db
from counselor_app.models import Therapist
from counselor_app.web import CONTENT_SECURITY_POLICY
from examples.host_app.host_app import db as host_db
from host_support import (  # noqa: F401
    DATA_KEY,
    META_TOKEN,
    PREFIX,
    Staff,
    clinician,
    host,
    host_client,
    host_template,
    other_clinician,
    receptionist,
    signed_in,
)

SEARCH = {"q": "Alex", "status": "all"}
OUR_COMMANDS = (
    "setup",
    "therapist",
    "db",
    "backup",
    "restore",
    "audit",
    "data-keys",
    "demo-data",
    "fhir",
)
HOST_PAGE = "The host's own error page"


def head_of(page: str) -> str:
    head, separator, _ = page.partition("</head>")
    assert separator, "the page has no </head>"
    return head


# --- A bare host, for the properties the reference host cannot show ---------------------------


@dataclass
class Clinician:
    external_id: str
    name: str
    email: str
    is_admin: bool = False


BARE_CLINICIAN = Clinician("bare-1", "Gil Moreau", "gil@example.org", is_admin=True)


class HostIdConverter(BaseConverter):
    """The host's own `id` converter: host ids are short codes, not numbers."""

    regex = r"[A-Z]{3}"


@pytest.fixture
def bare_host(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build a small host with its own Flask-SQLAlchemy on a tmp SQLite file, mount the package
    on it with an identity that always answers BARE_CLINICIAN, and create our tables.

    ``setup(app)`` runs before the mount (the host's own routes, converters, CSRFProtect)."""
    built: list[Flask] = []

    def build(
        setup: Callable[[Flask], None] | None = None,
        *,
        template_folder: Path | None = None,
        **mount: Any,
    ) -> Flask:
        folder = tmp_path / f"bare-{len(built)}"
        folder.mkdir()
        app = Flask(
            "bare_host",
            instance_path=str(folder / "instance"),
            template_folder=str(template_folder) if template_folder else None,
        )
        app.config.update(
            TESTING=True,
            SECRET_KEY="bare-host-secret",
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'host.sqlite3'}",
            COUNSELOR_DATA_KEYS=[DATA_KEY],
        )
        own_db = SQLAlchemy()
        own_db.init_app(app)
        app.extensions["bare_db"] = own_db
        if setup:
            setup(app)
        mount.setdefault("db", own_db)
        mount.setdefault("identity", lambda: BARE_CLINICIAN)
        counselor_app.init_app(app, **mount)
        with app.app_context():
            schema.upgrade()
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            app.extensions["bare_db"].session.remove()
            app.extensions["bare_db"].engine.dispose()


def meta_token(client: Any, url: str = f"{PREFIX}/") -> str:
    match = META_TOKEN.search(client.get(url).get_data(as_text=True))
    assert match, "no CSRF meta tag on our page"
    return match.group(1)


# --- Nothing global ---------------------------------------------------------------------------


class HostSessionInterface(SecureCookieSessionInterface):
    """A host's own session handling (a server-side store, say)."""


class HostLogFilter(logging.Filter):
    pass


def test_the_session_interface_and_the_host_logger_stay_the_hosts(bare_host):
    interface, log_filter = HostSessionInterface(), HostLogFilter()

    def setup(app: Flask) -> None:
        app.session_interface = interface
        app.logger.addFilter(log_filter)

    app = bare_host(setup)
    assert app.session_interface is interface
    assert type(app.session_interface) is HostSessionInterface
    assert app.logger.filters == [log_filter]  # no filter of ours on the host's logger
    # Our pages keep their CSRF token in the host's session, under the host's cookie name.
    response = app.test_client().get(f"{PREFIX}/")
    assert response.status_code == 200
    assert response.headers["Set-Cookie"].startswith("session=")


def test_the_hosts_id_converter_stays_the_hosts_and_ours_has_its_own_name(bare_host):
    def setup(app: Flask) -> None:
        app.url_map.converters["id"] = HostIdConverter

        @app.get("/cases/<id:code>")
        def case(code: str) -> str:
            return f"case {code}"

    app = bare_host(setup)
    assert app.url_map.converters["id"] is HostIdConverter
    assert app.url_map.converters["counselor_id"].__module__ == "counselor_app.web"
    client = app.test_client()
    assert client.get("/cases/ABC").get_data(as_text=True) == "case ABC"
    assert client.get("/cases/123").status_code == 404
    # Our URLs take numbers through our own converter.
    couple_rules = [r for r in app.url_map.iter_rules() if r.endpoint.endswith("couple.detail")]
    assert [r.rule for r in couple_rules] == [f"{PREFIX}/couples/<counselor_id:couple_id>"]
    assert client.get(f"{PREFIX}/couples/ABC").status_code == 404


@pytest.mark.sqlite_only
def test_only_the_engine_we_use_gets_our_sqlite_pragmas(host, tmp_path):
    with host.app_context(), host_db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    other = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'someone-else.sqlite3'}")
    try:
        with other.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 0
    finally:
        other.dispose()


def test_the_hosts_error_pages_stay_the_hosts_and_ours_serve_our_own(
    host, clinician, other_clinician, receptionist
):
    # Handlers by status code: Flask ranks these above a blueprint's handlers by exception class.
    for code in (400, 403, 404):
        host.register_error_handler(code, lambda error, code=code: (f"{HOST_PAGE} {code}", code))

    def our_page(response: Any, code: int) -> str:
        page = response.get_data(as_text=True)
        assert response.status_code == code
        assert HOST_PAGE not in page
        assert "Riverside Practice" in page  # our error page, in the host's layout
        return page

    client = signed_in(host, clinician)
    response = client.get("/no-such-host-page")
    assert (response.status_code, response.get_data(as_text=True)) == (404, f"{HOST_PAGE} 404")
    response = signed_in(host, other_clinician).get("/admin/users")  # the host's abort(403)
    assert (response.status_code, response.get_data(as_text=True)) == (403, f"{HOST_PAGE} 403")

    for url in (f"{PREFIX}/couples/987654", f"{PREFIX}/library/no-such-strategy"):
        assert errors.PAGES[404][1] in our_page(client.get(url), 404), url
    refused = signed_in(host, receptionist).get(f"{PREFIX}/")
    assert errors.PAGES[403][1] in our_page(refused, 403)
    no_token = client.post(f"{PREFIX}/search", data=SEARCH)
    assert errors.CSRF_MESSAGE in our_page(no_token, 400)


# Values, not literals in the raising line: a traceback quotes its source lines.
HOST_DETAIL = "host detail 4417"
CLIENT_DETAIL = "Partner A said 5521"


def test_a_host_exception_keeps_its_message_in_the_hosts_log_and_ours_withholds_it(
    host, clinician, caplog
):
    host.config["PROPAGATE_EXCEPTIONS"] = False

    @host.get("/host-boom")
    def host_boom() -> str:
        raise RuntimeError(HOST_DETAIL)

    def our_boom() -> str:
        raise RuntimeError(CLIENT_DETAIL)

    host.view_functions["counselor.library.index"] = our_boom
    client = signed_in(host, clinician)
    caplog.set_level(logging.ERROR)

    assert client.get("/host-boom").status_code == 500
    host_records = [r for r in caplog.records if r.name == host.logger.name]
    assert len(host_records) == 1
    assert f"RuntimeError: {HOST_DETAIL}" in caplog.handler.format(host_records[0])
    assert not any(isinstance(f, errors.WithholdExceptionMessages) for f in host.logger.filters)
    caplog.clear()

    response = client.get(f"{PREFIX}/library")
    assert response.status_code == 500
    assert errors.PAGES[500][1] in response.get_data(as_text=True)
    assert [r.name for r in caplog.records] == ["counselor_app.errors"]  # not the host's logger
    logged = caplog.handler.format(caplog.records[0])
    assert "our_boom" in logged and "RuntimeError" in logged  # where, and what kind
    assert "message withheld" in logged
    assert CLIENT_DETAIL not in logged


def test_our_security_headers_are_on_our_pages_only(host, host_client):
    client = host_client
    ours = client.get(f"{PREFIX}/")
    assert ours.status_code == 200
    assert ours.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert ours.headers["X-Frame-Options"] == "DENY"
    assert ours.headers["X-Content-Type-Options"] == "nosniff"
    assert ours.headers["Cache-Control"] == "no-store"

    for response in (client.get("/clients"), host.test_client().get("/login")):
        assert response.status_code == 200
        for header in ("Content-Security-Policy", "X-Frame-Options", "Permissions-Policy"):
            assert header not in response.headers
        assert "no-store" not in response.headers.get("Cache-Control", "")


# --- CSRF ---------------------------------------------------------------------------------------


def test_with_the_hosts_csrfprotect_its_exempt_webhook_works_and_our_forms_are_checked(
    host, host_client
):
    anonymous = host.test_client()
    assert anonymous.post("/webhooks/calendar", json={"event": "moved"}).status_code == 204
    client = host_client
    assert client.post("/webhooks/calendar", json={"event": "moved"}).status_code == 204

    for url, data in (
        (f"{PREFIX}/search", SEARCH),
        (f"{PREFIX}/couples/new", {"partner_a_name": "Alex"}),
        (f"{PREFIX}/admin/practice", {"name": "Riverside"}),
    ):
        response = client.post(url, data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert errors.CSRF_MESSAGE in page, url
    # The same search with the page's token goes through: it was the token that was missing.
    token = meta_token(client)
    answered = client.post(f"{PREFIX}/search", data={**SEARCH, "csrf_token": token})
    assert answered.status_code == 302


def test_without_a_host_csrfprotect_we_leave_the_hosts_forms_alone_and_check_ours(bare_host):
    def setup(app: Flask) -> None:
        @app.post("/host-form")
        def host_form() -> str:
            return f"saved {request.form['note']}"

    app = bare_host(setup)
    assert "csrf" not in app.extensions
    client = app.test_client()
    response = client.post("/host-form", data={"note": "hello"})
    assert response.status_code == 200 and response.get_data(as_text=True) == "saved hello"

    refused = client.post(f"{PREFIX}/search", data=SEARCH)
    assert refused.status_code == 400
    assert errors.CSRF_MESSAGE in refused.get_data(as_text=True)
    token = meta_token(client)
    assert client.post(f"{PREFIX}/search", data={**SEARCH, "csrf_token": token}).status_code == (
        302
    )


HOST_CSRF_SETUPS = {
    # A host exempting one of our views by name, or our blueprint: ours still check tokens.
    "our view exempted": lambda protector, app: protector.exempt(
        "counselor_app.couples.views.search"
    ),
    "our blueprint exempted": lambda protector, app: protector.exempt(couples_bp),
    # A host whose CSRFProtect checks only where it calls protect() itself.
    "host checks on request": lambda protector, app: app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False
    ),
}


@pytest.mark.parametrize("case", HOST_CSRF_SETUPS)
def test_no_host_csrf_setting_turns_off_the_check_on_our_forms(bare_host, case):
    def setup(app: Flask) -> None:
        HOST_CSRF_SETUPS[case](CSRFProtect(app), app)

    app = bare_host(setup)
    client = app.test_client()
    refused = client.post(f"{PREFIX}/search", data=SEARCH)
    assert refused.status_code == 400
    assert errors.CSRF_MESSAGE in refused.get_data(as_text=True)
    token = meta_token(client)
    assert client.post(f"{PREFIX}/search", data={**SEARCH, "csrf_token": token}).status_code == (
        302
    )


# --- Names: blueprints, templates, the parent's name -----------------------------------------


def test_host_blueprints_named_auth_and_admin_sit_beside_ours(host, host_client):
    assert host.blueprints["auth"].import_name.startswith("examples.host_app")
    assert host.blueprints["admin"].import_name.startswith("examples.host_app")
    assert host.blueprints["counselor"].import_name == "counselor_app.mount"
    client = host_client
    staff_page = client.get("/admin/users")
    assert staff_page.status_code == 200 and "Ada Rivera" in staff_page.get_data(as_text=True)
    ours = client.get(f"{PREFIX}/admin/therapists")
    assert ours.status_code == 200 and "Ada Rivera" in ours.get_data(as_text=True)


def test_the_hosts_templates_do_not_replace_ours(host):
    host_templates = Path(host.root_path) / "templates"
    with host.app_context():
        loader = host.jinja_env
        assert Path(loader.get_template("base.html").filename) == host_templates / "base.html"
        assert Path(loader.get_template("auth/login.html").filename) == (
            host_templates / "auth" / "login.html"
        )
        for name in ("counselor/base.html", "counselor/layout.html", "counselor/errors/error.html"):
            assert Path(loader.get_template(name).filename) == paths.TEMPLATES_DIR / name
    # The host's sign-in page is the host's, with no trace of ours.
    login_page = host.test_client().get("/login").get_data(as_text=True)
    assert "Riverside Practice" in login_page
    assert "counselor-static" not in login_page


def test_a_host_may_override_one_of_our_templates_on_purpose(bare_host, tmp_path):
    templates = tmp_path / "host-templates"
    (templates / "counselor" / "couples").mkdir(parents=True)
    (templates / "counselor" / "couples" / "index.html").write_text(
        "The host's own couples list for {{ current_therapist.name }}"
    )
    app = bare_host(template_folder=templates)
    response = app.test_client().get(f"{PREFIX}/")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "The host's own couples list for Gil Moreau"
    # The pages it did not override are still ours.
    library = app.test_client().get(f"{PREFIX}/library").get_data(as_text=True)
    assert "counselor-static/css/app.css" in library


def test_with_a_base_template_our_pages_sit_in_the_host_layout_with_our_assets(host, host_client):
    assert host.config["COUNSELOR_BASE_TEMPLATE"] == "base.html"
    client = host_client
    page = client.get(f"{PREFIX}/").get_data(as_text=True)
    head = head_of(page)
    assert "· Riverside Practice</title>" in head
    assert 'href="/static/host.css"' in head  # the host's own stylesheet stays
    assert f'href="{PREFIX}/counselor-static/css/app.css"' in head
    assert f'src="{PREFIX}/counselor-static/js/forms.js"' in head
    assert META_TOKEN.search(head)
    body = page.partition("</head>")[2]
    assert 'href="/clients"' in body and 'href="/appointments"' in body  # the host's nav
    assert "Your couples" in body
    stylesheet = client.get(f"{PREFIX}/counselor-static/css/app.css")
    assert stylesheet.status_code == 200
    stylesheet.close()


def test_without_a_base_template_our_pages_use_our_own_layout(host, host_client):
    host.config["COUNSELOR_BASE_TEMPLATE"] = None
    page = host_client.get(f"{PREFIX}/").get_data(as_text=True)
    head = head_of(page)
    assert "· Counselor</title>" in head
    assert "host.css" not in head
    assert f'href="{PREFIX}/counselor-static/css/app.css"' in head
    assert META_TOKEN.search(head)
    assert "Riverside Practice" not in page and 'href="/clients"' not in page
    assert f'<a class="brand" href="{PREFIX}/">Counselor</a>' in page


@pytest.mark.parametrize("how", ["argument", "config"])
def test_the_parent_blueprint_may_take_another_name(bare_host, how):
    def setup(app: Flask) -> None:
        if how == "config":
            app.config["COUNSELOR_BLUEPRINT_NAME"] = "therapy"

    app = bare_host(setup, **({"name": "therapy"} if how == "argument" else {}))
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert "therapy.couples.index" in endpoints and "therapy.couple.plans.index" in endpoints
    assert not any(endpoint.startswith("counselor.") for endpoint in endpoints)
    client = app.test_client()
    assert client.get(f"{PREFIX}/").status_code == 200  # the first visit makes the account
    with app.app_context():
        therapist_id = db.session.scalar(
            select(Therapist.id).where(Therapist.external_id == BARE_CLINICIAN.external_id)
        )
    couple_id = add_couple(app, therapist_id, ("Alex", "Sam"))

    # Follow our links from the dashboard and from the couple's page: every one answers.
    followed: set[str] = set()
    for start in (f"{PREFIX}/", f"{PREFIX}/couples/{couple_id}"):
        page = client.get(start).get_data(as_text=True)
        for link in sorted(set(re.findall(r'href="(/[^"#?]*)', page)) - followed):
            assert link.startswith(PREFIX + "/"), link
            response = client.get(link, follow_redirects=True)
            assert response.status_code == 200, link
            assert response.request.path.startswith(PREFIX + "/"), link
            response.close()
            followed.add(link)
    for expected in ("/library", f"/couples/{couple_id}", f"/couples/{couple_id}/plans"):
        assert PREFIX + expected in followed, expected


# --- init_app refuses what would not work -----------------------------------------------------


def test_a_host_with_its_own_login_manager_must_pass_identity(tmp_path):
    app = Flask("login_host", instance_path=str(tmp_path / "instance"))
    app.config.update(
        SECRET_KEY="login-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'login.sqlite3'}",
        COUNSELOR_DATA_KEYS=[DATA_KEY],
    )
    host_sqlalchemy = SQLAlchemy()
    host_sqlalchemy.init_app(app)
    host_login = LoginManager()
    host_login.init_app(app)
    with pytest.raises(RuntimeError, match="identity="):
        counselor_app.init_app(app, db=host_sqlalchemy)
    assert app.login_manager is host_login  # not taken over on the way
    assert "counselor" not in app.blueprints


# --- The CLI, mounted -------------------------------------------------------------------------


def test_our_migrations_answer_under_flask_counselor_db(host):
    result = host.test_cli_runner().invoke(args=["counselor", "db", "current"])
    assert result.exit_code == 0, result.output
    [head] = schema.heads()
    assert head in result.output


def test_every_command_of_ours_is_under_one_group(host):
    runner = host.test_cli_runner()
    result = runner.invoke(args=["counselor", "--help"])
    assert result.exit_code == 0, result.output
    listed = {
        line.split()[0] for line in result.output.partition("Commands:")[2].splitlines() if line
    }
    assert listed == set(OUR_COMMANDS)

    # The host's own `flask` command line, with its plugins' commands: none of ours on top.
    flask_cli = FlaskGroup(create_app=lambda: host, load_dotenv=False, set_debug_flag=False)
    top = runner.invoke(cli=flask_cli, args=["--help"])
    assert top.exit_code == 0, top.output
    top_level = {
        line.split()[0] for line in top.output.partition("Commands:")[2].splitlines() if line
    }
    assert "counselor" in top_level
    assert top_level.isdisjoint(set(OUR_COMMANDS) - {"db"})
    assert "db" in top_level  # that one is the host's Flask-Migrate, not ours
    backup = runner.invoke(cli=flask_cli, args=["backup", "somewhere.json"])
    assert backup.exit_code != 0 and "No such command 'backup'" in backup.output


# --- The health check -------------------------------------------------------------------------


def test_the_health_check_under_the_prefix_answers_without_a_session(host):
    response = host.test_client().get(f"{PREFIX}/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"
    assert "Set-Cookie" not in response.headers


# --- Standalone: the app is ours, and so are its error pages -----------------------------------


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
    assert "no_such_table" not in page  # no SQL or stack trace shown to the user
    assert 'class="site-header"' in page  # rendered in the base layout
    assert client.get("/after").get_data(as_text=True) == "Dana Whitfield"


def test_404_page_is_in_the_base_layout(logged_in):
    response = logged_in.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Not found" in page and 'class="site-header"' in page


def test_the_standalone_health_check_answers_without_a_session(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"
    assert "Set-Cookie" not in response.headers
