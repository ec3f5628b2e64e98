"""Each main page sends the same number of SQL statements however large the practice grows:
pagination, eager loading and indexes, checked here; the timings are in `make bench`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from appointment_support import Visit, seed_history
from conftest import login
from counselor_app import demo
from counselor_app.extensions import db
from counselor_app.models import (
    Appointment,
    AppointmentStatus,
    Couple,
    SessionPlan,
    Therapist,
)

PASSWORD = "a fictitious practice for counting"
PAGES = {
    "dashboard": "/?status=all",
    "couple page": "/couples/{couple_id}",
    "intake page": "/couples/{couple_id}/intake/a/closeness_space",
    "assessment": "/couples/{couple_id}/assessment",
    "plans": "/couples/{couple_id}/plans",
    "plan editor": "/couples/{couple_id}/plans/{plan_id}/edit",
    "plan page": "/couples/{couple_id}/plans/{plan_id}",
    "appointments": "/couples/{couple_id}/appointments",
    "appointment page": "/couples/{couple_id}/appointments/{appointment_id}",
    "progress": "/couples/{couple_id}/progress",
}
# Statements per page on SQLite; PostgreSQL adds one: the lock that keeps the audit chain in
# order. Every page also pays 3 for the session user and the audit record.
# The couple page lists the partners' links; the appointment page and progress read the
# check-ins partners answered between sessions; the plans page says whether handouts are held
# (the safety alert and notice, then the safety answers).
EXPECTED = {
    "dashboard": 8,
    "couple page": 8,
    "intake page": 7,
    "assessment": 10,
    "plans": 11,
    "plan editor": 9,
    "plan page": 12,
    "appointments": 10,
    "appointment page": 21,
    "progress": 13,
}


def measured_couple(app) -> dict[str, int]:
    with app.app_context():
        couple_id, plan_id = db.session.execute(
            select(Couple.id, SessionPlan.id).join(SessionPlan).order_by(Couple.id).limit(1)
        ).one()
        appointment_id = db.session.scalar(
            select(Appointment.id)
            .where(
                Appointment.couple_id == couple_id,
                Appointment.status == AppointmentStatus.COMPLETED,
            )
            .order_by(Appointment.starts_at.desc())
            .limit(1)
        )
    return {"couple_id": couple_id, "plan_id": plan_id, "appointment_id": appointment_id}


def counts(client, count_queries, ids) -> dict[str, int]:
    found = {}
    for name, url in PAGES.items():
        with count_queries() as statements:
            response = client.get(url.format(**ids))
        assert response.status_code == 200, (name, response.status_code)
        found[name] = len(statements)
    return found


@pytest.mark.slow
def test_no_page_sends_more_statements_as_the_practice_grows(app, client, backend, count_queries):
    small = demo.Size(therapists=1, couples=3, appointments=30, issue_documents=True)
    with app.app_context():
        demo.build(small, password=PASSWORD)
        therapist = db.session.scalar(select(Therapist))
    ids = measured_couple(app)
    login(client, therapist, PASSWORD)
    before = counts(client, count_queries, ids)

    # Ten times the couples and appointments around it, and a longer history for this couple.
    with app.app_context():
        demo.build(demo.Size(therapists=2, couples=30, appointments=300, issue_documents=False),
                   password=PASSWORD, seed=7)  # fmt: skip
    seed_history(app, ids["couple_id"], [Visit(csi={"A": 12, "B": 14})] * 40, first_week=-60)
    after = counts(client, count_queries, ids)

    assert after == before
    expected = {name: n + (backend == "postgresql") for name, n in EXPECTED.items()}
    assert before == expected, str(before)  # a change here must be a deliberate one
