"""Build appointment histories straight into the database for the appointment tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask

from counselor_app.extensions import db
from counselor_app.instruments import BALANCE_ID, CSI4_ID, load
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    Attendance,
    CheckIn,
)

START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


@dataclass
class Visit:
    status: str = "completed"
    attendance: str | None = "both"
    csi: dict[str, int | None] = field(default_factory=dict)  # "A"/"B" -> total
    balance: dict[str, int | None] = field(default_factory=dict)


def csi_answers(total: int) -> dict[str, int]:
    """Four CSI-4 answers adding up to ``total`` (0–21)."""
    first = min(total, 6)
    rest = total - first
    answers = [first]
    for _ in range(3):
        step = min(rest, 5)
        answers.append(step)
        rest -= step
    return {f"csi_{i + 1}": value for i, value in enumerate(answers)}


def balance_answers(total: int) -> dict[str, int]:
    instrument = load(BALANCE_ID)
    answers: dict[str, Any] = {}
    rest = total
    for item in instrument.items:
        step = min(rest, 4)
        answers[item.id] = step
        rest -= step
    return answers


def seed_history(app: Flask, couple_id: int, visits: list[Visit], first_week: int = 0) -> list[int]:
    """One appointment a week from START (+ ``first_week``); check-ins only for partners there."""
    ids = []
    with app.app_context():
        for week, visit in enumerate(visits, start=first_week):
            appointment = Appointment(
                couple_id=couple_id,
                starts_at=START + timedelta(weeks=week),
                status=AppointmentStatus(visit.status),
                attendance=Attendance(visit.attendance) if visit.attendance else None,
            )
            db.session.add(appointment)
            for label in ("A", "B"):
                for instrument_id, totals, make in (
                    (CSI4_ID, visit.csi, csi_answers),
                    (BALANCE_ID, visit.balance, balance_answers),
                ):
                    if totals.get(label) is not None:
                        appointment.check_ins.append(
                            CheckIn(
                                couple_id=couple_id,
                                partner_label=label,
                                instrument_id=instrument_id,
                                instrument_version=1,
                                answers=make(totals[label]),
                                total=totals[label],
                            )
                        )
            db.session.flush()
            ids.append(appointment.id)
        db.session.commit()
    return ids
