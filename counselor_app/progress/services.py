"""Build the couple's progress picture from the database: a fixed number of queries."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from counselor_app.extensions import db
from counselor_app.models import Appointment, AppointmentStatus, Couple, Flag
from counselor_app.progress.model import MEASURE_IDS, AppointmentPoint, Progress, build_progress

LABELS = ("A", "B")


def _point(appointment: Appointment, flag_keys: dict[int, str]) -> AppointmentPoint:
    scores: dict[str, dict[str, int | None]] = {m: {"A": None, "B": None} for m in MEASURE_IDS}
    for row in appointment.check_ins:
        # Only a partner who was there has a score: an absent partner's is None, never zero.
        if row.instrument_id in scores and appointment.present(row.partner_label):
            scores[row.instrument_id][row.partner_label] = row.total
    homework: dict[str, Counter[str]] = {label: Counter() for label in LABELS}
    for review in appointment.homework_reviews:
        homework[review.partner_label][review.outcome.value] += 1
    held = appointment.status == AppointmentStatus.COMPLETED
    return AppointmentPoint(
        appointment_id=appointment.id,
        starts_at=appointment.starts_at,
        status=appointment.status.value,
        attendance=appointment.attendance.value if appointment.attendance and held else None,
        scores=scores,
        homework={label: dict(counts) for label, counts in homework.items()},
        flag_statuses={
            flag_keys[r.flag_id]: r.status.value
            for r in appointment.flag_records
            if r.flag_id in flag_keys
        },
    )


def progress_of(couple: Couple) -> Progress:
    """Four queries whatever the number of appointments (appointments, check-ins, reviews,
    flag records) plus one for the flags' keys."""
    appointments = db.session.scalars(
        select(Appointment)
        .where(Appointment.couple_id == couple.id)
        .options(
            selectinload(Appointment.check_ins),
            selectinload(Appointment.homework_reviews),
            selectinload(Appointment.flag_records),
        )
    ).all()
    flag_keys = dict(
        db.session.execute(
            select(Flag.id, Flag.challenge_key).where(Flag.couple_id == couple.id)
        ).all()
    )
    names = {p.label: p.display_name for p in couple.partners}
    return build_progress([_point(a, flag_keys) for a in appointments], names)
