"""Appointments: scheduling, check-in measures, homework review, flag status, signed notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from counselor_app.assessment.services import confirmed_flags
from counselor_app.extensions import db
from counselor_app.instruments import BALANCE_ID, CSI4_ID, load, score_balance, score_csi4
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    CheckIn,
    Couple,
    FlagProgress,
    FlagStatusRecord,
    HomeworkOutcome,
    HomeworkReview,
    NoteAddendum,
    NoteStatus,
    PrivateNote,
    SessionNote,
    SessionPlan,
    Therapist,
)
from counselor_app.models.base import (
    advance_part_version,
    check_version,
    flush_versioned,
    utcnow,
)

CHECK_IN_MEASURES = (CSI4_ID, BALANCE_ID)
LABELS = ("A", "B")


class AppointmentError(ValueError):
    """Something that cannot be recorded as asked; the message is for the therapist."""


class NoteLocked(AppointmentError):
    """A signed note is never edited: corrections go in a dated addendum."""


class EmptyNote(AppointmentError):
    """Signing a note with nothing written: what is missing is the note's text."""


@dataclass(frozen=True)
class AppointmentValues:
    starts_at: datetime
    duration_minutes: int
    status: AppointmentStatus
    attendance: Attendance | None
    plan_id: int | None


@dataclass(frozen=True)
class HomeworkItem:
    index: int
    text: str


@dataclass(frozen=True)
class HomeworkSaved:
    """What a homework review save left on record, for the message that says so."""

    outcomes: int
    notes_without_outcome: int

    def message(self) -> str:
        if not self.outcomes and not self.notes_without_outcome:
            return "Homework review saved: nothing is recorded."
        parts = []
        if self.outcomes:
            parts.append(_count(self.outcomes, "outcome") + " recorded")
        if self.notes_without_outcome:
            parts.append(_count(self.notes_without_outcome, "note") + " kept without an outcome")
        return f"Homework review saved: {' and '.join(parts)}."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# The appointment page's forms saved against a part counter of their own (the names under
# which the page's forms are given back to it, appointments.views.render_page).
PART_COUNTERS = {
    **{f"check_in_{label}": Appointment.check_in_counter(label) for label in ("A", "B")},
    "homework": "homework_version",
    "flags": "flags_version",
}


# ------------------------------------------------------------------------------ appointments
def appointments_of(couple: Couple) -> list[Appointment]:
    query = (
        select(Appointment)
        .where(Appointment.couple_id == couple.id)
        .options(selectinload(Appointment.plan), selectinload(Appointment.note))
        .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
    )
    return list(db.session.scalars(query))


# What the appointment page shows of an appointment, loaded with it: a statement per kind of
# row, however many rows there are.
PAGE_LOADS = (
    selectinload(Appointment.check_ins),
    selectinload(Appointment.homework_reviews),
    selectinload(Appointment.flag_records),
    selectinload(Appointment.note).selectinload(SessionNote.addenda),
    selectinload(Appointment.plan),
)


def _check(values: AppointmentValues, couple: Couple) -> None:
    if values.status == AppointmentStatus.COMPLETED and values.attendance is None:
        raise AppointmentError("Record who attended: the appointment is marked completed.")
    if values.status != AppointmentStatus.COMPLETED and values.attendance is not None:
        raise AppointmentError("Attendance is recorded only for a completed appointment.")
    if values.plan_id is not None:
        owner = db.session.scalar(
            select(SessionPlan.couple_id).where(SessionPlan.id == values.plan_id)
        )
        if owner != couple.id:
            raise AppointmentError("Choose one of this couple's session plans.")


def create_appointment(couple: Couple, values: AppointmentValues) -> Appointment:
    _check(values, couple)
    appointment = Appointment(couple_id=couple.id)
    _apply(appointment, values)
    db.session.add(appointment)
    db.session.flush()
    return appointment


def update_appointment(
    appointment: Appointment, values: AppointmentValues, *, expected_version: int
) -> None:
    check_version(appointment, expected_version)
    _require_unsigned(appointment)
    _check(values, appointment.couple)
    _apply(appointment, values)
    flush_versioned(db.session)


def drop_absent_check_ins(appointment: Appointment) -> list[str]:
    """An absent partner has no score at the appointment: remove the check-ins the therapist
    entered for partners no longer present. One a partner answered by their own link is theirs,
    not the session's: it moves to the time they answered it instead of being lost."""
    absent = [r for r in appointment.check_ins if not appointment.present(r.partner_label)]
    if appointment.status == AppointmentStatus.SCHEDULED:
        # Nobody is absent from a session yet to come: a check-in answered for it waits there.
        absent = [r for r in absent if not r.by_partner]
    entered = [r for r in absent if not r.by_partner]
    for row in entered:
        appointment.check_ins.remove(row)
    db.session.flush()
    if kept := [r.id for r in absent if r.by_partner]:
        # A statement, not the collection: taken out of it, the row would be deleted as an orphan.
        db.session.execute(update(CheckIn).where(CheckIn.id.in_(kept)).values(appointment_id=None))
        db.session.expire(appointment, ["check_ins"])
    return sorted({r.partner_label for r in entered})


def _apply(appointment: Appointment, values: AppointmentValues) -> None:
    appointment.starts_at = values.starts_at
    appointment.duration_minutes = values.duration_minutes
    appointment.status = values.status
    appointment.attendance = values.attendance
    appointment.plan_id = values.plan_id


def last_and_next(couple_ids: list[int], now: datetime) -> dict[int, tuple[Any, Any]]:
    """Per couple: the last held appointment and the next scheduled one (two queries in all)."""
    if not couple_ids:
        return {}
    last = dict(
        db.session.execute(
            select(Appointment.couple_id, func.max(Appointment.starts_at))
            .where(
                Appointment.couple_id.in_(couple_ids),
                Appointment.status == AppointmentStatus.COMPLETED,
            )
            .group_by(Appointment.couple_id)
        ).all()
    )
    upcoming = dict(
        db.session.execute(
            select(Appointment.couple_id, func.min(Appointment.starts_at))
            .where(
                Appointment.couple_id.in_(couple_ids),
                Appointment.status == AppointmentStatus.SCHEDULED,
                Appointment.starts_at >= now,
            )
            .group_by(Appointment.couple_id)
        ).all()
    )
    return {cid: (last.get(cid), upcoming.get(cid)) for cid in couple_ids}


def _require_held(appointment: Appointment) -> None:
    if appointment.status != AppointmentStatus.COMPLETED or appointment.attendance is None:
        raise AppointmentError(
            "Mark the appointment completed, with who attended, before recording what happened."
        )


def _require_unsigned(appointment: Appointment) -> None:
    if appointment.note is not None and appointment.note.is_signed:
        raise AppointmentError(
            "The note is signed, so this appointment's record is locked. "
            "Add a dated addendum to correct it."
        )


# ------------------------------------------------------------------------------ check-ins
def check_ins_by_partner(appointment: Appointment) -> dict[str, dict[str, CheckIn]]:
    found: dict[str, dict[str, CheckIn]] = {label: {} for label in LABELS}
    for row in appointment.check_ins:
        found[row.partner_label][row.instrument_id] = row
    return found


def check_in_total(instrument_id: str, answers: dict[str, Any]) -> int | None:
    if instrument_id == CSI4_ID:
        return score_csi4(answers).total
    return score_balance(load(BALANCE_ID), answers).total


def record_check_in(
    appointment: Appointment,
    label: str,
    answers: dict[str, dict[str, Any]],
    *,
    expected_version: int,
) -> None:
    """Store a present partner's check-in (measure id -> answers); an absent partner has none."""
    _require_unsigned(appointment)
    if not appointment.present(label):
        raise AppointmentError(
            f"Partner {label} was not at this appointment, so there is no check-in to record."
        )
    advance_part_version(
        db.session, appointment, Appointment.check_in_counter(label), expected_version
    )
    existing = check_ins_by_partner(appointment)[label]
    for instrument_id in CHECK_IN_MEASURES:
        instrument = load(instrument_id)
        row = existing.get(instrument_id)
        if row is None:
            row = CheckIn(
                couple_id=appointment.couple_id,
                partner_label=label,
                instrument_id=instrument_id,
                instrument_version=instrument.version,
            )
            appointment.check_ins.append(row)
        if row.by_partner and row.answers != answers[instrument_id]:
            # Retyped by the therapist: no longer the partner's own answers.
            row.invitation_id, row.answered_at = None, None
        row.answers = dict(answers[instrument_id])
        row.total = check_in_total(instrument_id, row.answers)
    flush_versioned(db.session)


# ------------------------------------------------------------------------------ homework
def plan_to_review(appointment: Appointment) -> SessionPlan | None:
    """The plan of the held appointment just before this one: its homework is reviewed now.

    Only that one: an older plan was reviewed at its own next appointment already. And only a
    plan of the couple's: the whole chain from the appointment to the homework is theirs.
    """
    couple_id = appointment.couple_id
    previous = db.session.scalar(
        select(Appointment)
        .where(
            Appointment.couple_id == couple_id,
            Appointment.starts_at < appointment.starts_at,
            Appointment.status == AppointmentStatus.COMPLETED,
        )
        .order_by(Appointment.starts_at.desc())
        .limit(1)
        .options(selectinload(Appointment.plan.and_(SessionPlan.couple_id == couple_id)))
    )
    if previous is None or previous.plan is None:
        return None
    # Checked again: a plan already in the session is not reloaded through the filter above.
    return previous.plan if previous.plan.couple_id == couple_id else None


def homework_items(plan: SessionPlan | None) -> list[HomeworkItem]:
    if plan is None:
        return []
    return [HomeworkItem(i, item["text"]) for i, item in enumerate(plan.homework)]


def record_homework(
    appointment: Appointment,
    plan: SessionPlan,
    outcomes: dict[tuple[int, str], tuple[HomeworkOutcome | None, str]],
    *,
    expected_version: int,
) -> HomeworkSaved:
    """(item index, partner) -> (outcome or None for not recorded, note). A note is kept with
    its outcome not recorded; a review with neither is cleared.

    Only partners who were there report on their homework; an absent partner's is left open.
    """
    _require_held(appointment)
    _require_unsigned(appointment)
    advance_part_version(db.session, appointment, "homework_version", expected_version)
    items = {item.index: item for item in homework_items(plan)}
    existing = {
        (row.item_index, row.partner_label): row
        for row in appointment.homework_reviews
        if row.plan_id == plan.id
    }
    for (index, label), (outcome, note) in outcomes.items():
        if index not in items or label not in LABELS:
            raise AppointmentError("That assignment is not part of the plan being reviewed.")
        if (outcome is not None or note) and not appointment.present(label):
            raise AppointmentError(
                f"Partner {label} was not at this appointment: record their homework when they are."
            )
        row = existing.get((index, label))
        if outcome is None and not note:
            if row is not None:
                appointment.homework_reviews.remove(row)
            continue
        if row is None:
            row = HomeworkReview(
                plan_id=plan.id,
                item_index=index,
                partner_label=label,
                assignment=items[index].text,
            )
            appointment.homework_reviews.append(row)
        row.outcome = outcome
        row.note = note
    flush_versioned(db.session)
    kept = [row for row in appointment.homework_reviews if row.plan_id == plan.id]
    with_outcome = sum(row.outcome is not None for row in kept)
    return HomeworkSaved(outcomes=with_outcome, notes_without_outcome=len(kept) - with_outcome)


# ------------------------------------------------------------------------------ flags
def record_flag_statuses(
    appointment: Appointment, statuses: dict[int, FlagProgress | None], *, expected_version: int
) -> None:
    allowed = {flag.id for flag in confirmed_flags(appointment.couple)}
    advance_part_version(db.session, appointment, "flags_version", expected_version)
    existing = {row.flag_id: row for row in appointment.flag_records}
    for flag_id, status in statuses.items():
        if flag_id not in allowed:
            raise AppointmentError("Only the couple's confirmed flags can be tracked.")
        row = existing.get(flag_id)
        if status is None:
            if row is not None:
                appointment.flag_records.remove(row)
        elif row is None:
            appointment.flag_records.append(FlagStatusRecord(flag_id=flag_id, status=status))
        elif row.status != status:
            row.status = status
            row.recorded_at = utcnow()
    flush_versioned(db.session)


# ------------------------------------------------------------------------------ notes
def save_note(
    appointment: Appointment,
    *,
    data: str,
    assessment: str,
    plan: str,
    expected_version: int,
    sign_as: Therapist | None = None,
) -> SessionNote:
    """Save the DAP note; with ``sign_as``, sign exactly this text in the same transaction.

    A signed note is refused and left exactly as it was.
    """
    note = appointment.note
    if note is not None and note.is_signed:
        raise NoteLocked("This note is signed and locked. Add a dated addendum instead.")
    check_version(note, expected_version)
    if sign_as is not None and not (data.strip() or assessment.strip() or plan.strip()):
        raise EmptyNote("Write the note before signing it.")
    if note is None:
        note = appointment.note = SessionNote()
    note.data, note.assessment, note.plan = data, assessment, plan
    note.updated_at = utcnow()
    if sign_as is not None:
        note.status = NoteStatus.SIGNED
        note.signed_at = utcnow()
        note.signed_by_id = sign_as.id
    flush_versioned(db.session)
    return note


def add_addendum(appointment: Appointment, therapist: Therapist, text: str) -> NoteAddendum:
    note = appointment.note
    if note is None or not note.is_signed:
        raise AppointmentError("Addenda are for signed notes: edit the draft instead.")
    addendum = NoteAddendum(text=text, created_by_id=therapist.id)
    note.addenda.append(addendum)
    flush_versioned(db.session)
    return addendum


def private_note_of(appointment: Appointment) -> PrivateNote | None:
    return db.session.scalar(
        select(PrivateNote).where(PrivateNote.appointment_id == appointment.id)
    )


def save_private_note(appointment: Appointment, text: str, *, expected_version: int) -> None:
    note = private_note_of(appointment)
    check_version(note, expected_version)
    if note is None:
        note = PrivateNote(appointment_id=appointment.id)
        db.session.add(note)
    note.text = text
    note.updated_at = utcnow()
    flush_versioned(db.session)
