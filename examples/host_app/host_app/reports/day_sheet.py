"""The front desk's day sheet: today's appointments as a CSV file to print or import."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Appointment

HEADER = ("Time", "Client", "Clinician")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DaySheetRow:
    """Plain values, so the file is built without touching the ORM."""

    starts_at: datetime
    client: str
    clinician: str


def rows_for(day: date) -> list[DaySheetRow]:
    """The appointments of ``day`` in time order, loaded in one query."""
    start = datetime.combine(day, time.min)
    appointments = db.session.scalars(
        select(Appointment)
        .where(Appointment.starts_at >= start, Appointment.starts_at < start + timedelta(days=1))
        .options(joinedload(Appointment.client), joinedload(Appointment.clinician))
        .order_by(Appointment.starts_at)
    )
    return [DaySheetRow(a.starts_at, a.client.name, a.clinician.name) for a in appointments]


def render_csv(rows: list[DaySheetRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow((row.starts_at.strftime("%H:%M"), _cell(row.client), _cell(row.clinician)))
    return buffer.getvalue()


def _cell(value: str) -> str:
    """Names are typed by staff: quote any that a spreadsheet would evaluate."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
