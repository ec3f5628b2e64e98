"""Accounts: password policy, authentication and creation of therapists."""

from __future__ import annotations

import secrets
from functools import cache

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from counselor_app.extensions import db
from counselor_app.models import Therapist

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message is for the user."""


@cache
def _unknown_user_hash() -> str:
    """Checked when the email is unknown, so a wrong email costs as long as a wrong password
    and response times do not reveal which addresses have accounts. Made on first use only,
    because scrypt is deliberately slow."""
    return generate_password_hash(secrets.token_hex(16), method="scrypt")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def password_problem(password: str) -> str | None:
    """Why a password is not acceptable, or None when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if len(set(password)) < 4:
        return "Use a password with more variety than a few repeated characters."
    return None


def generate_password() -> str:
    """A 16-character password for a new account, shown once to whoever created it."""
    return secrets.token_urlsafe(12)


def find_by_email(email: str) -> Therapist | None:
    return db.session.scalar(
        select(Therapist).where(func.lower(Therapist.email) == normalise_email(email))
    )


def authenticate(email: str, password: str) -> Therapist | None:
    """The therapist these credentials belong to (active or not), or None."""
    therapist = find_by_email(email)
    if therapist is None:
        Therapist(password_hash=_unknown_user_hash()).check_password(password)
        return None
    return therapist if therapist.check_password(password) else None


def create_therapist(name: str, email: str, password: str, *, is_admin: bool = False) -> Therapist:
    """Add a therapist; flushes so the caller can commit (or roll back) with other work."""
    if problem := password_problem(password):
        raise AccountError(problem)
    if find_by_email(email) is not None:
        raise AccountError("A therapist with this email address already exists.")
    therapist = Therapist(name=name.strip(), email=normalise_email(email), is_admin=is_admin)
    therapist.set_password(password)
    db.session.add(therapist)
    db.session.flush()
    return therapist


def change_password(therapist: Therapist, current: str, new: str) -> None:
    if not therapist.check_password(current):
        raise AccountError("The current password is not correct.")
    if problem := password_problem(new):
        raise AccountError(problem)
    therapist.set_password(new)
    # Other signed-in copies of this account (another device, a stolen cookie) are signed out.
    therapist.rotate_login_token()


def load_by_login_token(token: str) -> Therapist | None:
    therapist = db.session.scalar(select(Therapist).where(Therapist.login_token == token))
    return therapist if therapist is not None and therapist.active else None


def count_therapists() -> int:
    return db.session.scalar(select(func.count()).select_from(Therapist)) or 0
