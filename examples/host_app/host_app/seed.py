"""``flask seed``: staff and clients to try the app with locally.

The passwords are printed in the README, so these accounts must never exist on a server that
holds real clients.
"""

from __future__ import annotations

from datetime import date, datetime, time

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from .extensions import db
from .models import CLINICIAN, RECEPTIONIST, Appointment, Client, User

# name, email, role, practice admin, password (local trial only)
STAFF = (
    ("Ada Rivera", "ada@example.org", CLINICIAN, True, "ada-local-trial"),
    ("Ben Okafor", "ben@example.org", CLINICIAN, False, "ben-local-trial"),
    ("Cara Lindqvist", "cara@example.org", RECEPTIONIST, False, "cara-local-trial"),
)
CLIENTS = (("Dana Whitfield", "dana@example.org"), ("Eli Moreno", None))
# client, clinician's email, hour today: so the appointment book and day sheet show something.
APPOINTMENTS = (("Dana Whitfield", "ada@example.org", 10), ("Eli Moreno", "ben@example.org", 14))


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Create demo staff and clients with known passwords: for a local trial only."""
    users = {email: _user(name, email, role, admin, pw) for name, email, role, admin, pw in STAFF}
    clients = {name: _client(name, email) for name, email in CLIENTS}
    if not db.session.scalar(select(func.count()).select_from(Appointment)):
        for client, clinician, hour in APPOINTMENTS:
            starts_at = datetime.combine(date.today(), time(hour))
            db.session.add(
                Appointment(client=clients[client], clinician=users[clinician], starts_at=starts_at)
            )
    db.session.commit()
    click.echo("Seeded staff and clients; the passwords are in examples/host_app/README.md.")


def _user(name: str, email: str, role: str, is_admin: bool, password: str) -> User:
    """The account with this email, created if missing (so seeding twice adds nothing)."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(name=name, email=email, role=role, is_admin=is_admin)
        user.set_password(password)
        db.session.add(user)
    return user


def _client(name: str, email: str | None) -> Client:
    client = db.session.scalar(select(Client).where(Client.name == name))
    if client is None:
        client = Client(name=name, email=email)
        db.session.add(client)
    return client
