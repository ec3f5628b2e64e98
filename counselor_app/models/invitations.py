"""A partner's personal link to answer on their own device: one partner, one purpose."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from counselor_app.models.accounts import Therapist
from counselor_app.models.appointments import Appointment
from counselor_app.models.base import Base, as_utc, portable_enum, utcnow
from counselor_app.models.couples import Couple, Partner


class InvitationPurpose(enum.StrEnum):
    INTAKE = "intake"
    CHECK_IN = "check_in"

    @property
    def label(self) -> str:
        return {"intake": "Intake", "check_in": "Check-in"}[self.value]


class InvitationState(enum.StrEnum):
    SENT = "sent"
    OPENED = "opened"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def open(self) -> bool:
        """The link still lets the partner in."""
        return self in (InvitationState.SENT, InvitationState.OPENED, InvitationState.IN_PROGRESS)


class Invitation(Base):
    """What the therapist asked one partner to answer, and how far that has got.

    Only a hash of the link's token is kept: the link itself is shown to the therapist once,
    when it is made (or made again), and nobody can read it back from the database.
    """

    __tablename__ = "counselor_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_partner.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[InvitationPurpose] = mapped_column(
        portable_enum(InvitationPurpose, "invitation_purpose")
    )
    # A check-in for this appointment; None: a check-in on the day it is answered.
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("counselor_appointment.id", ondelete="SET NULL"), index=True
    )
    # SHA-256 of the token (256 random bits): a look-up key, useless to anyone who reads it.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("counselor_therapist.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    emailed_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    couple: Mapped[Couple] = relationship()
    partner: Mapped[Partner] = relationship()
    appointment: Mapped[Appointment | None] = relationship()
    created_by: Mapped[Therapist] = relationship()

    __mapper_args__ = {"version_id_col": version}

    def state_at(self, moment: datetime) -> InvitationState:
        """Revoked and complete are final; an unfinished link expires at its time."""
        if self.revoked_at is not None:
            return InvitationState.REVOKED
        if self.completed_at is not None:
            return InvitationState.COMPLETE
        if as_utc(self.expires_at) <= moment:
            return InvitationState.EXPIRED
        if self.started_at is not None:
            return InvitationState.IN_PROGRESS
        if self.opened_at is not None:
            return InvitationState.OPENED
        return InvitationState.SENT

    @property
    def state(self) -> InvitationState:
        return self.state_at(utcnow())
