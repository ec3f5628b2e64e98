"""The reference host (examples/host_app) with the package mounted on its database and sign-in.

Tests that say "mounted" run against this host, never a bare Flask app: it has its own models
(a table `appointment`, a class `Appointment`), Flask-Login users (two clinicians and a
receptionist), CSRFProtect with an exempt webhook, Flask-Migrate history, layout, `forms.py`,
`reports/` and a blueprint named `admin`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade as host_upgrade

from conftest import AUDIT_KEY, FAST_PASSWORD_HASH, build_template, fresh_database
from counselor_app import schema
from examples.host_app.host_app import create_app as create_host_app
from examples.host_app.host_app import db as host_db
from examples.host_app.host_app.models import CLINICIAN, RECEPTIONIST, User

PREFIX = "/couples-therapy"
PASSWORD = "host password for tests"
# Our new-couple form as a therapist fills it in, for tests that add a couple through the page.
COUPLE_FORM = {
    "partner_a-display_name": "Jordan",
    "partner_a-pronouns": "he/him",
    "partner_a-email": "",
    "partner_b-display_name": "Riley",
    "partner_b-pronouns": "she/her",
    "partner_b-email": "",
    "relationship_stage": "engaged",
    "length_years": "3",
    "length_months": "6",
    "presenting_concerns": "Riley feels crowded; Jordan feels shut out.",
}
DATA_KEY = "Q291bnNlbG9yQXBwVGVzdEtleU5vdEZvclByb2R1Y3Q="
HIDDEN_TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass(frozen=True)
class Staff:
    id: int
    email: str
    name: str


def host_config(url: str, instance: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "host-test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "INSTANCE_PATH": str(instance),
        "COUNSELOR_DATA_KEYS": [DATA_KEY],
        "COUNSELOR_AUDIT_KEYS": [AUDIT_KEY],
        "COUNSELOR_PASSWORD_HASH": FAST_PASSWORD_HASH,
        "HOST_PASSWORD_HASH": FAST_PASSWORD_HASH,
    }


def migrate_host(url: str, instance: Path) -> None:
    """The host's own history, then ours: two version tables in one database."""
    app = create_host_app(host_config(url, instance))
    with app.app_context():
        host_upgrade()
        schema.upgrade()
        host_db.engine.dispose()


class HostClient(FlaskClient):
    """A browser on the host: forms carry the page's CSRF token, as the host's pages do."""

    def csrf_token(self) -> str:
        page = self.get("/login").get_data(as_text=True)
        match = HIDDEN_TOKEN.search(page) or META_TOKEN.search(page)
        assert match, "no CSRF token on the host's sign-in page"
        return match.group(1)

    def post_form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        payload = {"csrf_token": self.csrf_token(), **(data or {})}
        return self.post(url, data=payload, **kwargs)

    def sign_in(self, staff: Staff) -> None:
        response = self.post_form("/login", {"email": staff.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]


def signed_in(app: Flask, staff: Staff) -> HostClient:
    """A host client of its own, signed in as ``staff`` (made after any route a test adds)."""
    client = app.test_client()
    client.sign_in(staff)
    return client


def add_staff(app: Flask, name: str, email: str, *, role: str = CLINICIAN, admin: bool = False):
    with app.app_context():
        user = User(name=name, email=email, role=role, is_admin=admin)
        user.set_password(PASSWORD)
        host_db.session.add(user)
        host_db.session.commit()
        return Staff(user.id, email, name)


# Built once per run and backend, however many test modules import the fixture below (pytest
# keeps a session fixture per module that defines it).
_TEMPLATES: dict[str, str] = {}


@pytest.fixture(scope="session")
def host_template(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """A host database with both histories migrated, for each test to copy."""
    if backend not in _TEMPLATES:
        _TEMPLATES[backend] = build_template(
            backend, "host_template", migrate_host, tmp_path_factory, request
        )
    return _TEMPLATES[backend]


@pytest.fixture
def host(backend, host_template, tmp_path, request) -> Iterator[Flask]:
    """The reference host with the package mounted, on a database of its own."""
    folder = tmp_path / "host"  # beside, not over, a standalone app's database in the same test
    folder.mkdir()
    with fresh_database(backend, host_template, folder, request) as url:
        app = create_host_app(host_config(url, folder / "instance"))
        app.test_client_class = HostClient
        yield app
        with app.app_context():
            host_db.session.remove()
            host_db.engine.dispose()


@pytest.fixture
def clinician(host) -> Staff:
    return add_staff(host, "Ada Rivera", "ada@example.org", admin=True)


@pytest.fixture
def other_clinician(host) -> Staff:
    return add_staff(host, "Ben Okafor", "ben@example.org")


@pytest.fixture
def receptionist(host) -> Staff:
    return add_staff(host, "Cara Lindqvist", "cara@example.org", role=RECEPTIONIST)


@pytest.fixture
def host_client(host, clinician) -> HostClient:
    """A signed-in host clinician."""
    client = host.test_client()
    client.sign_in(clinician)
    return client
