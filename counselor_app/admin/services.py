"""The practice owner's work: adding, deactivating and reactivating therapists."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from counselor_app.auth.services import AccountError, create_therapist, generate_password
from counselor_app.extensions import db
from counselor_app.models import PaperSize, Practice, Therapist
from counselor_app.models.base import check_version, flush_versioned


def list_therapists() -> list[Therapist]:
    return list(db.session.scalars(select(Therapist).order_by(Therapist.name, Therapist.id)))


def add_therapist(name: str, email: str, *, is_admin: bool) -> tuple[Therapist, str]:
    """Create an account with a generated password, returned once for the admin to pass on."""
    password = generate_password()
    return create_therapist(name, email, password, is_admin=is_admin), password


def set_active(therapist: Therapist, active: bool, *, acting: Therapist) -> None:
    if therapist.id == acting.id and not active:
        raise AccountError("You cannot deactivate your own account.")
    therapist.active = active
    if not active:
        # Ends any session the therapist still has open.
        therapist.rotate_login_token()


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
