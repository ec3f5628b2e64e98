"""Inviting a partner to answer on their own device: making, re-issuing and revoking links,
finding an invitation by its token, and what a partner's answers do to the record.

A link's token is 256 random bits, shown once and stored only as its SHA-256: a database
reader learns nothing that opens a link. No request here: the views pass what they know.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from counselor_app.appointments import services as appointments
from counselor_app.extensions import db
from counselor_app.instruments import load
from counselor_app.intake import services as intake
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    CheckIn,
    Couple,
    CoupleStatus,
    Invitation,
    InvitationPurpose,
    Partner,
    Therapist,
)
from counselor_app.models.base import (
    advance_part_version,
    as_utc,
    check_version,
    flush_versioned,
    utcnow,
)
from counselor_app.tokens import hash_token, new_token, same_hash


class InvitationError(Exception):
    """An invitation that cannot be made or changed as asked; the message says why."""


# ------------------------------------------------------------------------------ the therapist
def invitations_of(couple: Couple) -> list[Invitation]:
    """The couple's invitations, newest first, with their appointments (their partners are the
    couple's, already loaded)."""
    query = (
        select(Invitation)
        .where(Invitation.couple_id == couple.id)
        .options(selectinload(Invitation.appointment))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )
    return list(db.session.scalars(query))


def upcoming_appointments(couple: Couple, now: datetime) -> list[Appointment]:
    """Appointments a check-in may be asked for: scheduled ones that have not begun."""
    return [
        a
        for a in appointments.appointments_of(couple)
        if a.status == AppointmentStatus.SCHEDULED and as_utc(a.starts_at) > now
    ]


@dataclass(frozen=True)
class Request:
    partner: Partner
    purpose: InvitationPurpose
    appointment: Appointment | None
    valid_for: timedelta


def create(couple: Couple, request: Request, therapist: Therapist) -> tuple[Invitation, str]:
    """A new invitation and its token (the only time the token exists in clear)."""
    _check_request(couple, request)
    token, token_hash = new_token()
    invitation = Invitation(
        couple_id=couple.id,
        partner_id=request.partner.id,
        purpose=request.purpose,
        appointment_id=request.appointment.id if request.appointment else None,
        token_hash=token_hash,
        created_by_id=therapist.id,
        expires_at=utcnow() + request.valid_for,
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation, token


def _check_request(couple: Couple, request: Request) -> None:
    if request.partner.couple_id != couple.id:
        raise InvitationError("Choose one of this couple's partners.")
    if request.purpose == InvitationPurpose.INTAKE:
        if request.appointment is not None:
            raise InvitationError("An intake is not for an appointment: leave it empty.")
        if intake.is_complete(intake.responses_of(request.partner)):
            raise InvitationError(
                f"{request.partner.display_name}'s intake is already complete: there is "
                "nothing left to answer. Review it from the couple page instead."
            )
    elif request.appointment is not None and request.appointment.couple_id != couple.id:
        raise InvitationError("Choose one of this couple's appointments.")


def reissue(invitation: Invitation, valid_for: timedelta, *, expected_version: int) -> str:
    """A new link for the same invitation (answers saved so far stay); the old link stops."""
    check_version(invitation, expected_version)
    if invitation.completed_at is not None:
        raise InvitationError("This invitation is complete: make a new one instead.")
    token, invitation.token_hash = new_token()
    invitation.expires_at = utcnow() + valid_for
    invitation.revoked_at = None
    flush_versioned(db.session)
    return token


def revoke(invitation: Invitation, *, expected_version: int) -> bool:
    """Stop the link at once; False when there was nothing to stop."""
    check_version(invitation, expected_version)
    if not invitation.state.open:
        return False
    invitation.revoked_at = utcnow()
    flush_versioned(db.session)
    return True


def token_matches(invitation: Invitation, token: str) -> bool:
    """Whether ``token`` is this invitation's current one (the delivery page sends it back)."""
    return same_hash(invitation.token_hash, token)


def export_invitations(couple: Couple) -> list[dict[str, Any]]:
    """What the couple's record export says of them: never a token or its hash."""

    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return [
        {
            "id": i.id,
            "partner": i.partner.label,
            "purpose": i.purpose.value,
            "appointment_id": i.appointment_id,
            "state": i.state.value,
            "created_at": moment(i.created_at),
            "expires_at": moment(i.expires_at),
            "emailed_at": moment(i.emailed_at),
            "opened_at": moment(i.opened_at),
            "started_at": moment(i.started_at),
            "completed_at": moment(i.completed_at),
            "revoked_at": moment(i.revoked_at),
        }
        for i in reversed(invitations_of(couple))
    ]


# ------------------------------------------------------------------------------ the partner
def open_invitation(token: str) -> Invitation | None:
    """The invitation a token opens, or None: unknown, expired, revoked or complete alike."""
    if not token or len(token) > 100:
        return None
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    return invitation if _usable(invitation) else None


def still_open(invitation_id: int, token_hash: str) -> Invitation | None:
    """The invitation a partner's session names, while its link (that very one) still works."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or not secrets.compare_digest(invitation.token_hash, token_hash):
        return None
    return invitation if _usable(invitation) else None


def _usable(invitation: Invitation | None) -> bool:
    """Open, for a couple still in therapy with a therapist still at the practice: a closed
    file or a deactivated account stops its links too."""
    return (
        invitation is not None
        and invitation.state.open
        and invitation.couple.status == CoupleStatus.ACTIVE
        and invitation.couple.therapist.active
    )


def mark_opened(invitation: Invitation) -> None:
    _note(invitation, "opened_at")


def mark_started(invitation: Invitation) -> None:
    _note(invitation, "started_at")
    _note(invitation, "opened_at")


def mark_emailed(invitation: Invitation) -> None:
    _note(invitation, "emailed_at", again=True)


def _note(invitation: Invitation, column: str, *, again: bool = False) -> None:
    """Record when something first happened (``again``: the last time) with a statement that
    leaves the invitation's version alone: a partner opening or saving is no edit of the
    therapist's, so it must not turn their Revoke into a conflict, and two opens at once (a
    mail scanner beside the real click) must not collide."""
    now = utcnow()
    condition = [Invitation.id == invitation.id]
    if not again:
        if getattr(invitation, column) is not None:
            return
        condition.append(getattr(Invitation, column).is_(None))
    db.session.execute(update(Invitation).where(*condition).values({column: now}))
    set_committed_value(invitation, column, now)


def save_intake_page(
    invitation: Invitation, step: intake.Step, values: dict[str, Any], *, expected_version: int
) -> bool:
    """A partner's page of intake answers, stored exactly as a therapist's would be.

    Raises StaleEdit when the page was saved elsewhere since it was shown (another tab, or
    the therapist), and InvitationError once the intake is complete: after that, only the
    therapist changes answers, and those changes are recorded one by one.
    """
    partner = invitation.partner
    responses = intake.responses_of(partner)
    response = responses.get(step.instrument.id)
    if intake.is_complete(responses) or (response is not None and response.is_complete):
        raise InvitationError("These answers have been sent to your therapist already.")
    # The therapist argument names who changed a *complete* response; refused above, so no
    # change is ever recorded in the inviting therapist's name.
    changed = intake.save_section(
        partner, step, values, expected_version=expected_version, therapist=invitation.created_by
    )
    intake.responses_of(partner)[step.instrument.id].partner_answered_at = utcnow()
    mark_started(invitation)
    flush_versioned(db.session)
    return changed


def complete_intake(invitation: Invitation) -> intake.Completion:
    """Send the partner's intake: complete unless required answers are missing."""
    completion = intake.complete(invitation.partner)
    if not completion.missing:
        mark_started(invitation)
        invitation.completed_at = utcnow()
        flush_versioned(db.session)  # a second Send at the same moment loses here
    return completion


def record_check_in(invitation: Invitation, answers: dict[str, dict[str, Any]]) -> None:
    """A partner's check-in: at the appointment it was asked for, else on its own date.

    It joins the appointment only while that appointment can still take it: scheduled or
    held with the partner there, note unsigned, and no check-in of theirs entered yet.
    Otherwise it is kept at the time it was answered, so nothing is overwritten or lost.
    """
    label = invitation.partner.label
    appointment = _appointment_for(invitation, label)
    now = utcnow()
    for instrument_id in appointments.CHECK_IN_MEASURES:
        row = CheckIn(
            couple_id=invitation.couple_id,
            partner_label=label,
            instrument_id=instrument_id,
            instrument_version=load(instrument_id).version,
            answers=dict(answers[instrument_id]),
            total=appointments.check_in_total(instrument_id, answers[instrument_id]),
            answered_at=now,
            invitation_id=invitation.id,
        )
        if appointment is not None:
            appointment.check_ins.append(row)
        else:
            db.session.add(row)
    mark_started(invitation)
    invitation.completed_at = now
    flush_versioned(db.session)  # a second Send at the same moment loses here
    if appointment is not None:
        # A therapist's page open on the appointment showed no check-in of theirs: saving it
        # now must not replace these answers unseen.
        advance_part_version(db.session, appointment, Appointment.check_in_counter(label), None)


def _appointment_for(invitation: Invitation, label: str) -> Appointment | None:
    appointment = invitation.appointment
    if appointment is None:
        return None
    held_without = appointment.status == AppointmentStatus.COMPLETED and not appointment.present(
        label
    )
    if (
        appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)
        or held_without
        or (appointment.note is not None and appointment.note.is_signed)
        or appointments.check_ins_by_partner(appointment)[label]
    ):
        return None
    return appointment
