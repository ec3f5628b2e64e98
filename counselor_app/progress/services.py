"""Build the couple's progress picture from the database: a fixed number of queries.

The queries read plain columns rather than ORM objects: a long history is hundreds of rows of
check-ins, reviews and flag records, and building an object for each cost more than the
queries themselves (and would decrypt homework texts the picture never shows).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Row, Select, select

from counselor_app.encryption import is_unreadable, log_unreadable
from counselor_app.extensions import db
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    CheckIn,
    Couple,
    Flag,
    FlagStatusRecord,
    HomeworkReview,
)
from counselor_app.models.appointments import partner_present
from counselor_app.progress.model import (
    BETWEEN_SESSIONS,
    MEASURE_IDS,
    AppointmentPoint,
    Progress,
    build_progress,
)

LABELS = ("A", "B")


def progress_of(couple: Couple) -> Progress:
    """Five queries whatever the number of appointments: appointments, check-ins at them,
    check-ins between them, homework outcomes, flag records."""
    homework: dict[int, dict[str, Counter[str]]] = defaultdict(
        lambda: {label: Counter() for label in LABELS}
    )
    for appointment_id, row_id, label, outcome in db.session.execute(
        # A note kept with its outcome not recorded counts toward no completion rate.
        _of_couple(
            couple,
            HomeworkReview,
            HomeworkReview.id,
            HomeworkReview.partner_label,
            HomeworkReview.outcome,
        ).where(HomeworkReview.outcome.is_not(None))
    ):
        if _readable(HomeworkReview.outcome, row_id, outcome):
            homework[appointment_id][label][outcome.value] += 1
    flag_statuses: dict[int, dict[str, str]] = defaultdict(dict)
    for appointment_id, row_id, key, status in db.session.execute(
        _of_couple(
            couple,
            FlagStatusRecord,
            FlagStatusRecord.id,
            Flag.challenge_key,
            FlagStatusRecord.status,
        )
        .join(Flag, Flag.id == FlagStatusRecord.flag_id)
        .where(Flag.couple_id == couple.id)
    ):
        if _readable(FlagStatusRecord.status, row_id, status):
            flag_statuses[appointment_id][key] = status.value
    return _build(couple, homework, flag_statuses)


def scores_of(couple: Couple) -> Progress:
    """The measures alone (baseline, latest, divergence), for the appointment page's latest
    scores: three queries (appointments, check-ins at them and between them)."""
    return _build(couple, {}, {})


def _readable(column: Any, row_id: int, value: Any) -> bool:
    """False, and logged, for a value that failed its integrity check: the picture leaves it out
    (a missing score or outcome) rather than fail."""
    if is_unreadable(value):
        log_unreadable(column.class_.__tablename__, column.key, row_id)
        return False
    return True


def _of_couple(couple: Couple, table: Any, *columns: Any) -> Select[Any]:
    """The appointment id and ``columns`` of ``table``'s rows for the couple's appointments."""
    return (
        select(table.appointment_id, *columns)
        .join(Appointment, Appointment.id == table.appointment_id)
        .where(Appointment.couple_id == couple.id)
    )


def _build(
    couple: Couple,
    homework: dict[int, dict[str, Counter[str]]],
    flag_statuses: dict[int, dict[str, str]],
) -> Progress:
    appointments = db.session.execute(
        select(
            Appointment.id, Appointment.starts_at, Appointment.status, Appointment.attendance
        ).where(Appointment.couple_id == couple.id)
    ).all()
    scores = _scores(couple, {row.id: row for row in appointments})
    points = [
        AppointmentPoint(
            appointment_id=row.id,
            starts_at=row.starts_at,
            status=row.status.value,
            attendance=_attendance(row),
            scores=scores[row.id],
            homework={
                label: dict(homework[row.id][label]) if row.id in homework else {}
                for label in LABELS
            },
            flag_statuses=flag_statuses.get(row.id, {}),
        )
        for row in appointments
    ]
    names = {p.label: p.display_name for p in couple.partners}
    return build_progress(points + _between_sessions(couple), names)


def _between_sessions(couple: Couple) -> list[AppointmentPoint]:
    """Check-ins partners answered by their own link with no appointment to join: one point
    per sitting (the invitation that asked for it), with that partner's scores only."""
    sittings: dict[Any, AppointmentPoint] = {}
    query = (
        select(
            CheckIn.id,
            CheckIn.invitation_id,
            CheckIn.answered_at,
            CheckIn.partner_label,
            CheckIn.instrument_id,
            CheckIn.total,
        )
        .where(CheckIn.couple_id == couple.id, CheckIn.appointment_id.is_(None))
        .order_by(CheckIn.id)
    )
    for row in db.session.execute(query):
        if row.instrument_id not in MEASURE_IDS or row.answered_at is None:
            continue
        sitting = row.invitation_id or (row.partner_label, row.answered_at)
        point = sittings.get(sitting) or sittings.setdefault(
            sitting,
            AppointmentPoint(
                appointment_id=row.id,
                starts_at=row.answered_at,
                status=BETWEEN_SESSIONS,
                attendance=None,
                scores={m: {"A": None, "B": None} for m in MEASURE_IDS},
                homework={label: {} for label in LABELS},
                flag_statuses={},
            ),
        )
        if _readable(CheckIn.total, row.id, row.total):
            point.scores[row.instrument_id][row.partner_label] = row.total
    return list(sittings.values())


def _attendance(appointment: Row[Any]) -> str | None:
    held = appointment.status == AppointmentStatus.COMPLETED
    return appointment.attendance.value if appointment.attendance and held else None


def _scores(
    couple: Couple, appointments: dict[int, Row[Any]]
) -> dict[int, dict[str, dict[str, int | None]]]:
    scores = {
        appointment_id: {m: {"A": None, "B": None} for m in MEASURE_IDS}
        for appointment_id in appointments
    }
    for appointment_id, row_id, label, measure, total in db.session.execute(
        _of_couple(
            couple, CheckIn, CheckIn.id, CheckIn.partner_label, CheckIn.instrument_id, CheckIn.total
        )
    ):
        appointment = appointments.get(appointment_id)
        # None: an appointment committed after the query above; the next page load shows it.
        # Only a partner who was there has a score: an absent partner's is None, never zero.
        if (
            appointment is not None
            and measure in MEASURE_IDS
            and partner_present(appointment.status, appointment.attendance, label)
            and _readable(CheckIn.total, row_id, total)
        ):
            scores[appointment_id][measure][label] = total
    return scores
