"""Appointments and what happens in them: check-ins, homework review, notes, flag status."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from counselor_app.encryption import EncryptedEnum, EncryptedInteger, EncryptedJSON, EncryptedText
from counselor_app.models.accounts import Therapist
from counselor_app.models.base import Base, portable_enum, utcnow
from counselor_app.models.couples import Couple
from counselor_app.models.plans import SessionPlan


class AppointmentStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"

    @property
    def label(self) -> str:
        return {"no_show": "No-show"}.get(self.value, self.value.capitalize())


class Attendance(enum.StrEnum):
    BOTH = "both"
    ONLY_A = "a"
    ONLY_B = "b"

    def present(self, label: str) -> bool:
        return self == Attendance.BOTH or self.value == label.lower()


class Appointment(Base):
    __tablename__ = "counselor_appointment"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(index=True)
    duration_minutes: Mapped[int] = mapped_column(default=60)
    status: Mapped[AppointmentStatus] = mapped_column(
        portable_enum(AppointmentStatus, "appointment_status"),
        default=AppointmentStatus.SCHEDULED,
    )
    attendance: Mapped[Attendance | None] = mapped_column(
        portable_enum(Attendance, "appointment_attendance")
    )
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("counselor_session_plan.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    # The versions of the page's forms that edit the appointment's children, kept apart from
    # its own version (its details) and from each other: a second tab's save of one part is
    # refused (models.base.advance_part_version), a save of another part is not held up.
    check_in_a_version: Mapped[int] = mapped_column(default=0)
    check_in_b_version: Mapped[int] = mapped_column(default=0)
    homework_version: Mapped[int] = mapped_column(default=0)
    flags_version: Mapped[int] = mapped_column(default=0)

    couple: Mapped[Couple] = relationship()
    plan: Mapped[SessionPlan | None] = relationship()
    check_ins: Mapped[list[CheckIn]] = relationship(
        back_populates="appointment", cascade="all, delete-orphan"
    )
    homework_reviews: Mapped[list[HomeworkReview]] = relationship(
        back_populates="appointment", cascade="all, delete-orphan"
    )
    flag_records: Mapped[list[FlagStatusRecord]] = relationship(
        back_populates="appointment", cascade="all, delete-orphan"
    )
    note: Mapped[SessionNote | None] = relationship(
        back_populates="appointment", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def attendance_label(self) -> str:
        """'Both partners', 'Avery only', or '—' while not recorded."""
        if self.attendance is None:
            return "—"
        if self.attendance == Attendance.BOTH:
            return "Both partners"
        partner = next(p for p in self.couple.partners if p.label.lower() == self.attendance.value)
        return f"{partner.display_name} only"

    def present(self, label: str) -> bool:
        return partner_present(self.status, self.attendance, label)

    @staticmethod
    def check_in_counter(label: str) -> str:
        """The part counter of partner ``label``'s check-in ("A" or "B")."""
        return f"check_in_{label.lower()}_version"


def partner_present(status: AppointmentStatus, attendance: Attendance | None, label: str) -> bool:
    """Whether a partner was there: only a held appointment has anyone present."""
    return (
        status == AppointmentStatus.COMPLETED
        and attendance is not None
        and attendance.present(label)
    )


class CheckIn(Base):
    """One partner's answers to one measure: at an appointment (absent partners have none), or
    on a day of its own when the partner answered between sessions by their personal link."""

    __tablename__ = "counselor_check_in"
    __table_args__ = (
        UniqueConstraint(
            "appointment_id", "partner_label", "instrument_id", name="uq_counselor_check_in"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    # None: answered between sessions, charted at ``answered_at``.
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("counselor_appointment.id", ondelete="CASCADE"), index=True
    )
    partner_label: Mapped[str] = mapped_column(String(1))
    instrument_id: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[int]
    answers: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON(dict), default=dict)
    total: Mapped[int | None] = mapped_column(EncryptedInteger)
    # When it was answered away from a session: by the partner's own link, or an imported
    # response's authored time. None: entered at the appointment.
    answered_at: Mapped[datetime | None]
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("counselor_invitation.id", ondelete="SET NULL"), index=True
    )

    appointment: Mapped[Appointment | None] = relationship(back_populates="check_ins")

    @property
    def by_partner(self) -> bool:
        """Answered by the partner through their personal link (and not retyped since)."""
        return self.invitation_id is not None


class HomeworkOutcome(enum.StrEnum):
    DONE = "done"
    PARTLY = "partly"
    NOT_DONE = "not_done"

    @property
    def label(self) -> str:
        return {"done": "Done", "partly": "Partly", "not_done": "Not done"}[self.value]


class HomeworkReview(Base):
    """How far one partner got with one assignment, recorded at the next appointment."""

    __tablename__ = "counselor_homework_review"
    __table_args__ = (
        UniqueConstraint(
            "appointment_id",
            "plan_id",
            "item_index",
            "partner_label",
            name="uq_counselor_homework_review",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_appointment.id", ondelete="CASCADE"), index=True
    )
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_session_plan.id", ondelete="CASCADE")
    )
    item_index: Mapped[int]
    assignment: Mapped[str] = mapped_column(EncryptedText)  # the text as it was assigned
    partner_label: Mapped[str] = mapped_column(String(1))
    # None: not recorded, a note kept all the same (typed about homework that was not
    # discussed, or whose outcome the therapist left open).
    outcome: Mapped[HomeworkOutcome | None] = mapped_column(EncryptedEnum(HomeworkOutcome))
    note: Mapped[str] = mapped_column(EncryptedText, default="")

    appointment: Mapped[Appointment] = relationship(back_populates="homework_reviews")


class FlagProgress(enum.StrEnum):
    ACTIVE = "active"
    IMPROVING = "improving"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class FlagStatusRecord(Base):
    """Where a confirmed challenge stood at an appointment."""

    __tablename__ = "counselor_flag_status_record"
    __table_args__ = (
        UniqueConstraint("appointment_id", "flag_id", name="uq_counselor_flag_status_record"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_appointment.id", ondelete="CASCADE"), index=True
    )
    flag_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_flag.id", ondelete="CASCADE"), index=True
    )
    # The therapist's reading of the challenge's progress: clinical, so encrypted.
    status: Mapped[FlagProgress] = mapped_column(EncryptedEnum(FlagProgress))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    appointment: Mapped[Appointment] = relationship(back_populates="flag_records")


class NoteStatus(enum.StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


class SessionNote(Base):
    """The progress note in DAP form. Signing locks it; corrections go in dated addenda."""

    __tablename__ = "counselor_session_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_appointment.id", ondelete="CASCADE"), unique=True
    )
    data: Mapped[str] = mapped_column(EncryptedText, default="")
    assessment: Mapped[str] = mapped_column(EncryptedText, default="")
    plan: Mapped[str] = mapped_column(EncryptedText, default="")
    status: Mapped[NoteStatus] = mapped_column(
        portable_enum(NoteStatus, "note_status"), default=NoteStatus.DRAFT
    )
    signed_at: Mapped[datetime | None]
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("counselor_therapist.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    appointment: Mapped[Appointment] = relationship(back_populates="note")
    signed_by: Mapped[Therapist | None] = relationship()
    addenda: Mapped[list[NoteAddendum]] = relationship(
        back_populates="note", order_by="NoteAddendum.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_signed(self) -> bool:
        return self.status == NoteStatus.SIGNED


class NoteAddendum(Base):
    __tablename__ = "counselor_note_addendum"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_session_note.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("counselor_therapist.id"))

    note: Mapped[SessionNote] = relationship(back_populates="addenda")
    created_by: Mapped[Therapist] = relationship()


class PrivateNote(Base):
    """Psychotherapy notes kept apart from the record: never exported, never in a document."""

    __tablename__ = "counselor_private_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_appointment.id", ondelete="CASCADE"), unique=True
    )
    text: Mapped[str] = mapped_column(EncryptedText, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
