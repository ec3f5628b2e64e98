"""The practice owner's work: adding, deactivating and reactivating therapists; and the
operator's (``flask counselor therapist set-password`` and ``edit``)."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from counselor_app.auth.services import (
    AccountError,
    account_inputs,
    clear_failures,
    create_therapist,
    find_by_email,
    generate_password,
    normalise_email,
    password_problem,
)
from counselor_app.extensions import db
from counselor_app.models import PaperSize, Practice, Therapist
from counselor_app.models.base import check_version, flush_versioned


def list_therapists() -> list[Therapist]:
    return list(db.session.scalars(select(Therapist).order_by(Therapist.name, Therapist.id)))


def add_therapist(name: str, email: str, *, is_admin: bool) -> tuple[Therapist, str]:
    """Create an account with a generated password, returned once for the admin to pass on."""
    password = generate_password()
    return create_therapist(name, email, password, is_admin=is_admin), password


def set_active(therapist: Therapist, active: bool, *, acting: Therapist | None) -> None:
    """``acting``: the administrator doing it, None for an operator on the command line."""
    if acting is not None and therapist.id == acting.id and not active:
        raise AccountError("You cannot deactivate your own account.")
    therapist.active = active
    if not active:
        # Ends any session the therapist still has open.
        therapist.rotate_login_token()


def set_password(therapist: Therapist, password: str) -> None:
    """Give an account a new password (its owner forgot it): the app's password policy
    applies, every session of the account ends and any sign-in lockout is lifted."""
    if therapist.external_id is not None:
        raise AccountError(
            f"{therapist.email} signs in through the host application: its password is the host's."
        )
    if problem := password_problem(
        password, personal=account_inputs(therapist.name, therapist.email)
    ):
        raise AccountError(problem)
    therapist.set_password(password)
    therapist.rotate_login_token()
    clear_failures(therapist.email)


@dataclass(frozen=True)
class AccountChanges:
    """What an operator changes on an account; None leaves it as it is."""

    name: str | None = None
    email: str | None = None
    is_admin: bool | None = None
    active: bool | None = None


def edit_therapist(therapist: Therapist, changes: AccountChanges) -> None:
    """Change an account's name, email, role or status; never leaves the practice without an
    active administrator. The caller commits."""
    if therapist.external_id is not None and any(
        value is not None for value in (changes.name, changes.email, changes.is_admin)
    ):
        raise AccountError(
            f"{therapist.email} comes from the host application: change its name, email and "
            "role there."
        )
    name = changes.name.strip() if changes.name is not None else None
    if name is not None and not name:
        raise AccountError("The name cannot be empty.")
    email = _valid_email(changes.email) if changes.email is not None else None
    if email is not None and find_by_email(email) not in (None, therapist):
        raise AccountError("A therapist with this email address already exists.")
    admin = therapist.is_admin if changes.is_admin is None else changes.is_admin
    active = therapist.active if changes.active is None else changes.active
    losing_admin = therapist.is_admin and therapist.active and not (admin and active)
    if losing_admin and not _other_active_admins(therapist):
        raise AccountError(
            f"{therapist.email} is the last active administrator: make another account an "
            "administrator first."
        )
    if name is not None:
        therapist.name = name
    if email is not None:
        therapist.email = email
    therapist.is_admin = admin
    if active != therapist.active:
        set_active(therapist, active, acting=None)


def _valid_email(email: str) -> str:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise AccountError("Enter a valid email address.") from error
    return normalise_email(email)


def _other_active_admins(therapist: Therapist) -> int:
    query = select(func.count()).where(
        Therapist.is_admin.is_(True), Therapist.active.is_(True), Therapist.id != therapist.id
    )
    return db.session.scalar(query) or 0


@dataclass(frozen=True)
class PracticeDetails:
    name: str
    paper_size: PaperSize
    contact_line: str = ""
    crisis_line: str = ""


def update_practice(settings: Practice, details: PracticeDetails, *, expected_version: int) -> None:
    check_version(settings, expected_version)
    if settings not in db.session:
        db.session.add(settings)  # the first save of the defaults
    settings.name = details.name
    settings.paper_size = details.paper_size
    settings.contact_line = details.contact_line
    settings.crisis_line = details.crisis_line
    flush_versioned(db.session)
