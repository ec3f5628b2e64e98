"""Mounted on the host's sign-in: who gets in, and as which therapist of ours.

The reference host (examples/host_app) signs its staff in with its own Flask-Login; the package
learns who is signed in only from the host's ``identity`` callable, makes a Therapist the first
time it meets a clinician and keeps it in step after. Each rule here was broken on purpose in
the package once, and its test was seen to fail.
"""
# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import func, select

import counselor_app
from conftest import PASSWORD, add_couple
from counselor_app import schema
from counselor_app.auth.services import create_therapist
from counselor_app.extensions import db
from counselor_app.models import Therapist
from examples.host_app.host_app import db as host_db
from examples.host_app.host_app.models import RECEPTIONIST, User
from host_support import (  # noqa: F401
    DATA_KEY,
    PREFIX,
    Staff,
    add_staff,
    clinician,
    host,
    host_client,
    host_template,
    other_clinician,
    receptionist,
    signed_in,
)
from host_support import PASSWORD as HOST_PASSWORD

# A few of our pages, of different areas: the rules hold for every one.
OUR_PAGES = (f"{PREFIX}/", f"{PREFIX}/library", f"{PREFIX}/admin/therapists")


@dataclass(frozen=True)
class Account:
    """A Therapist of ours as plain values, read outside the request that made it."""

    id: int
    external_id: str | None
    name: str
    email: str
    is_admin: bool
    active: bool


def accounts(app: Flask) -> list[Account]:
    with app.app_context():
        rows = db.session.scalars(select(Therapist).order_by(Therapist.id)).all()
        return [Account(t.id, t.external_id, t.name, t.email, t.is_admin, t.active) for t in rows]


def account_of(app: Flask, staff: Staff) -> Account:
    [found] = [a for a in accounts(app) if a.external_id == f"host-user-{staff.id}"]
    return found


def standalone_therapist(
    app: Flask, name: str, email: str, *, external_id: str | None = None
) -> int:
    """An account made before the practice moved into its host (or linked to another)."""
    with app.app_context():
        therapist = create_therapist(name, email, PASSWORD)
        therapist.external_id = external_id
        db.session.commit()
        return therapist.id


def change_host_user(app: Flask, staff: Staff, **values: Any) -> None:
    """The host's own admin editing a member of staff: the plugin is not told."""
    with app.app_context():
        user = host_db.session.get(User, staff.id)
        for name, value in values.items():
            setattr(user, name, value)
        host_db.session.commit()


def next_of(location: str) -> str:
    [target] = parse_qs(urlsplit(location).query)["next"]
    return target


# --- Provisioning -----------------------------------------------------------------------------


def test_a_host_clinicians_first_visit_makes_their_therapist(host, clinician, host_client):
    assert accounts(host) == []
    response = host_client.get(f"{PREFIX}/")
    assert response.status_code == 200
    assert "Your couples" in response.get_data(as_text=True)
    [made] = accounts(host)
    assert made == Account(
        made.id, f"host-user-{clinician.id}", "Ada Rivera", "ada@example.org", True, True
    )
    # Ada is a practice admin on the host, so our admin pages are open to her.
    assert host_client.get(f"{PREFIX}/admin/therapists").status_code == 200


def test_a_later_visit_follows_the_hosts_changes_to_name_email_and_admin(host, other_clinician):
    client = signed_in(host, other_clinician)
    assert client.get(f"{PREFIX}/").status_code == 200
    first = account_of(host, other_clinician)
    assert (first.name, first.email, first.is_admin) == ("Ben Okafor", "ben@example.org", False)
    assert client.get(f"{PREFIX}/admin/therapists").status_code == 403

    change_host_user(
        host, other_clinician, name="Ben Okafor-Hale", email="ben.hale@example.org", is_admin=True
    )
    assert client.get(f"{PREFIX}/admin/therapists").status_code == 200
    now = account_of(host, other_clinician)
    assert now == Account(
        first.id, first.external_id, "Ben Okafor-Hale", "ben.hale@example.org", True, True
    )
    assert len(accounts(host)) == 1  # the same account, not a second one

    change_host_user(host, other_clinician, is_admin=False)
    assert client.get(f"{PREFIX}/admin/therapists").status_code == 403
    assert client.get(f"{PREFIX}/").status_code == 200
    assert account_of(host, other_clinician).is_admin is False


@pytest.mark.parametrize("how", ["in the database", "by the admin on our page"])
def test_a_deactivated_therapist_gets_no_page_of_ours(host, clinician, other_clinician, how):
    ben = signed_in(host, other_clinician)
    assert ben.get(f"{PREFIX}/").status_code == 200
    therapist_id = account_of(host, other_clinician).id
    if how == "in the database":
        with host.app_context():
            db.session.get(Therapist, therapist_id).active = False
            db.session.commit()
    else:
        ada = signed_in(host, clinician)
        done = ada.post_form(f"{PREFIX}/admin/therapists/{therapist_id}/deactivate")
        assert done.status_code == 302
    assert account_of(host, other_clinician).active is False
    made = len(accounts(host))

    for url in OUR_PAGES:
        assert ben.get(url).status_code == 403, url
    assert ben.post_form(f"{PREFIX}/search", {"q": "", "status": "all"}).status_code == 403
    assert ben.get("/clients").status_code == 200  # the host's own pages are the host's call
    assert len(accounts(host)) == made  # no fresh account made in its place


def test_the_receptionist_gets_no_page_of_ours(host, receptionist):
    dana = standalone_therapist(host, "Dana Whitfield", "dana@example.org")
    couple_id = add_couple(host, dana, ("Alex", "Sam"))
    client = signed_in(host, receptionist)
    for url in (*OUR_PAGES, f"{PREFIX}/couples/{couple_id}", f"{PREFIX}/couples/new"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Not allowed" in response.get_data(as_text=True)
    assert client.post_form(f"{PREFIX}/couples/new", {}).status_code == 403
    assert client.get("/clients").status_code == 200  # the front desk keeps its own pages
    assert [a.name for a in accounts(host)] == ["Dana Whitfield"]  # no account made for her


# --- Anonymous visitors ---------------------------------------------------------------------


def test_anonymous_visitors_go_to_the_host_login_and_come_back(host, clinician):
    client = host.test_client()
    wanted = f"{PREFIX}/?status=all&page=1"
    response = client.get(wanted)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlsplit(location).path == "/login"
    assert next_of(location) == wanted
    for url in OUR_PAGES:
        sent = client.get(url)
        assert (sent.status_code, next_of(sent.headers["Location"])) == (302, url)

    # The host's sign-in brings the clinician back to the very page they asked for.
    signed = client.post_form(location, {"email": clinician.email, "password": HOST_PASSWORD})
    assert signed.status_code == 302 and signed.headers["Location"] == wanted
    assert client.get(wanted).status_code == 200


def test_a_configured_login_url_wins_over_the_hosts_login_view(host):
    host.config["COUNSELOR_LOGIN_URL"] = "https://sso.example.org/start?app=practice"
    response = host.test_client().get(f"{PREFIX}/library")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://sso.example.org/start?")
    assert parse_qs(urlsplit(location).query) == {
        "app": ["practice"],
        "next": [f"{PREFIX}/library"],
    }


# --- Matching host clinicians to our accounts --------------------------------------------------


def test_a_standalone_account_with_the_clinicians_email_is_adopted_with_its_couples(
    host, clinician
):
    host.config["COUNSELOR_ADOPT_ACCOUNTS_BY_EMAIL"] = True  # the host verifies addresses
    own_id = standalone_therapist(host, "Ada Rivera (old)", "ADA@example.org")
    couple_id = add_couple(host, own_id, ("Alex", "Sam"))
    client = signed_in(host, clinician)

    dashboard = client.get(f"{PREFIX}/").get_data(as_text=True)
    assert "Alex &amp; Sam" in dashboard
    assert client.get(f"{PREFIX}/couples/{couple_id}").status_code == 200
    [adopted] = accounts(host)
    assert adopted.id == own_id
    assert adopted.external_id == f"host-user-{clinician.id}"
    assert (adopted.name, adopted.email) == ("Ada Rivera", "ada@example.org")


def test_without_the_setting_an_email_alone_takes_over_no_account(host, clinician):
    """By default a host user's address proves nothing: setting it to a standalone therapist's
    must not hand over that therapist's couples."""
    own_id = standalone_therapist(host, "Ada Rivera (old)", "ada@example.org")
    couple_id = add_couple(host, own_id, ("Alex", "Sam"))
    client = signed_in(host, clinician)

    assert "Alex" not in client.get(f"{PREFIX}/").get_data(as_text=True)
    assert client.get(f"{PREFIX}/couples/{couple_id}").status_code == 404
    made = account_of(host, clinician)
    assert made.id != own_id and made.email != "ada@example.org"
    [kept] = [a for a in accounts(host) if a.id == own_id]
    assert (kept.external_id, kept.email) == (None, "ada@example.org")


def test_an_email_linked_to_another_host_account_is_not_taken_over(host, other_clinician):
    linked_id = standalone_therapist(
        host, "Ben Okafor", "ben@example.org", external_id="elsewhere-7"
    )
    couple_id = add_couple(host, linked_id, ("Rhea", "Tom"))
    client = signed_in(host, other_clinician)

    dashboard = client.get(f"{PREFIX}/").get_data(as_text=True)
    assert "Rhea" not in dashboard
    assert client.get(f"{PREFIX}/couples/{couple_id}").status_code == 404
    made = account_of(host, other_clinician)
    assert made.id != linked_id
    assert made.email != "ben@example.org"  # the address is the other account's
    [kept] = [a for a in accounts(host) if a.id == linked_id]
    assert (kept.external_id, kept.email) == ("elsewhere-7", "ben@example.org")


@pytest.mark.parametrize("role", ["clinician", RECEPTIONIST])
def test_a_host_user_is_never_taken_for_our_therapist_with_the_same_id(host, role):
    """The old bug: the host's Flask-Login user, looked up by its id, was read as a Therapist of
    ours with that id, and saw that therapist's couples."""
    therapist_id = standalone_therapist(host, "Dana Whitfield", "dana@example.org")
    couple_id = add_couple(host, therapist_id, ("Alex", "Sam"))
    staff = add_staff(host, "Host Person", "person@example.org", role=role)
    assert staff.id == therapist_id, "the test needs a host user and a therapist sharing an id"
    client = signed_in(host, staff)

    dashboard = client.get(f"{PREFIX}/")
    detail = client.get(f"{PREFIX}/couples/{couple_id}")
    if role == RECEPTIONIST:
        assert (dashboard.status_code, detail.status_code) == (403, 403)
    else:
        assert dashboard.status_code == 200 and "Alex" not in dashboard.get_data(as_text=True)
        assert detail.status_code == 404
        assert account_of(host, staff).id != therapist_id


def test_our_add_therapist_page_is_gone_when_accounts_come_from_the_host(host, host_client):
    listing = host_client.get(f"{PREFIX}/admin/therapists")
    assert listing.status_code == 200
    assert "Add therapist" not in listing.get_data(as_text=True)
    assert host_client.get(f"{PREFIX}/admin/therapists/new").status_code == 404
    added = host_client.post_form(
        f"{PREFIX}/admin/therapists/new", {"name": "Eve Stone", "email": "eve@example.org"}
    )
    assert added.status_code == 404
    assert [a.email for a in accounts(host)] == ["ada@example.org"]


# --- The identity callable ------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    external_id: str
    name: str
    email: str
    is_admin: bool = False


class Identity:
    """A host's identity callable whose answer the test changes between requests."""

    def __init__(self) -> None:
        self.person: Person | None = None
        self.calls = 0

    def __call__(self) -> Person | None:
        self.calls += 1
        return self.person


@pytest.fixture
def identity_host(tmp_path: Path) -> Iterator[tuple[Flask, Identity]]:
    """A bare host (no Flask-Login of its own) mounted with a changeable identity."""
    app = Flask("identity_host", instance_path=str(tmp_path / "instance"))
    app.config.update(
        TESTING=True,
        SECRET_KEY="identity-host-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'host.sqlite3'}",
        COUNSELOR_DATA_KEYS=[DATA_KEY],
        COUNSELOR_LOGIN_URL="/sign-in",
    )
    own_db = SQLAlchemy()
    own_db.init_app(app)

    @app.get("/host-page")
    def host_page() -> str:
        return "the host's page"

    identity = Identity()
    counselor_app.init_app(app, db=own_db, identity=identity)
    with app.app_context():
        schema.upgrade()
    yield app, identity
    with app.app_context():
        own_db.session.remove()
        own_db.engine.dispose()


def test_the_identity_callable_is_asked_on_every_request(identity_host):
    app, identity = identity_host
    client = app.test_client()
    gil = Person("host-7", "Gil Moreau", "gil@example.org")
    ines = Person("host-8", "Ines Park", "ines@example.org")

    identity.person = gil
    assert client.get(f"{PREFIX}/").status_code == 200
    assert identity.calls == 1
    with app.app_context():
        gil_id = db.session.scalar(select(Therapist.id).where(Therapist.external_id == "host-7"))
    couple_id = add_couple(app, gil_id, ("Alex", "Sam"))
    assert "Alex" in client.get(f"{PREFIX}/").get_data(as_text=True)
    assert identity.calls == 2

    identity.person = ines  # the same browser, someone else now: no cached answer
    assert "Alex" not in client.get(f"{PREFIX}/").get_data(as_text=True)
    assert client.get(f"{PREFIX}/couples/{couple_id}").status_code == 404
    assert identity.calls == 4

    identity.person = None  # signed out of the host
    response = client.get(f"{PREFIX}/couples/{couple_id}")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert next_of(response.headers["Location"]) == f"{PREFIX}/couples/{couple_id}"
    assert identity.calls == 5

    identity.person = gil
    assert client.get(f"{PREFIX}/couples/{couple_id}").status_code == 200
    # The host's own pages never ask it.
    assert client.get("/host-page").get_data(as_text=True) == "the host's page"
    assert identity.calls == 6
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Therapist)) == 2
