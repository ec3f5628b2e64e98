"""`flask demo-data`: a fictitious practice, realistic enough to click through."""

from __future__ import annotations

from sqlalchemy import func, select

from conftest import login
from counselor_app.extensions import db
from counselor_app.models import (
    Appointment,
    CheckIn,
    Couple,
    Flag,
    IssuedDocument,
    SessionNote,
    SessionPlan,
    Therapist,
)
from route_walk import routes

PASSWORD = "a fictitious practice for trying things"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_practice_is_complete_and_marked_fictitious(app, client):
    result = app.test_cli_runner().invoke(
        args=["counselor", "demo-data", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "3 therapists, 12 couples, 96 appointments" in result.output
    with app.app_context():
        therapists = db.session.scalars(select(Therapist)).all()
        assert len(therapists) == 3 and all(t.name.endswith("(demo)") for t in therapists)
        couples = db.session.scalars(select(Couple)).all()
        assert all(c.presenting_concerns.startswith("[Fictitious]") for c in couples)
        assert count(Flag) >= 12 and count(SessionPlan) >= 6 and count(IssuedDocument) >= 6
        assert count(Appointment) == 96
        assert count(CheckIn) > 100 and count(SessionNote) > 50
        demo_couple = db.session.scalar(
            select(Couple.id).join(SessionPlan).order_by(Couple.id).limit(1)
        )
        owner = db.session.get(Couple, demo_couple).therapist
        ids = {
            "couple_id": demo_couple,
            "plan_id": db.session.scalar(
                select(SessionPlan.id).where(SessionPlan.couple_id == demo_couple)
            ),
            "appointment_id": db.session.scalar(
                select(Appointment.id)
                .where(Appointment.couple_id == demo_couple)
                .order_by(Appointment.starts_at)
                .offset(2)
            ),
            "flag_id": db.session.scalar(select(Flag.id).where(Flag.couple_id == demo_couple)),
            "check_in_id": db.session.scalar(
                select(CheckIn.id).where(CheckIn.couple_id == demo_couple)
            ),
            "document_id": db.session.scalar(
                select(IssuedDocument.id).where(IssuedDocument.couple_id == demo_couple)
            ),
            "therapist_id": owner.id,
        }
    # Every page of a demo couple works, as its therapist (an admin) sees it.
    assert login(client, owner, PASSWORD).status_code == 302
    for route in routes(app):
        if "GET" in route.methods and "couple_id" in route.arguments:
            response = client.get(route.url(ids), follow_redirects=True)
            assert response.status_code == 200, (route.rule, response.status_code)
            response.close()
    progress = client.get(f"/couples/{demo_couple}/progress").get_data(as_text=True)
    assert "<svg" in progress


def test_demo_data_goes_into_an_empty_database_only(app, therapist, make_couple):
    make_couple(therapist)
    result = app.test_cli_runner().invoke(args=["counselor", "demo-data"])
    assert result.exit_code != 0
    assert "already has couples" in result.output


def test_the_size_can_be_chosen(app):
    result = app.test_cli_runner().invoke(
        args=[
            "counselor",
            "demo-data",
            "--therapists",
            "2",
            "--couples",
            "5",
            "--appointments",
            "40",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "2 therapists, 5 couples, 40 appointments" in result.output
    assert result.output.count("@example.org") == 2  # each account's password, shown once
    with app.app_context():
        assert count(Couple) == 5 and count(Appointment) == 40
