"""Rows reached through another row stay the couple's: the chain from the couple in the URL to
what a page shows or saves is checked at every link, not only at the row the URL names.

The forms never let an appointment name another couple's plan (tests/test_access_matrix.py);
here the link is made straight in the database, as a bug or a bad import could leave it.
"""

from __future__ import annotations

from sqlalchemy import func, select

from appointment_support import Visit, seed_history
from counselor_app.extensions import db
from counselor_app.models import Appointment, HomeworkReview
from intake_support import seed_intake
from plan_support import new_plan

THEIR_HOMEWORK = "Write each other a letter about the move."


def test_homework_is_never_reviewed_from_another_couples_plan(
    app, logged_in, therapist, make_couple
):
    """The appointment before this one names another couple's plan: its homework is neither
    shown on this appointment's page nor taken in a review (nothing to review: a 404)."""
    ours = make_couple(therapist, ("Avery", "Blake"))
    theirs = make_couple(therapist, ("Robin", "Kim"))
    for couple_id in (ours, theirs):
        seed_intake(app, couple_id, "A")
        seed_intake(app, couple_id, "B")
    their_plan = new_plan(logged_in, theirs, **{"homework-0-text": THEIR_HOMEWORK})
    held, current = seed_history(app, ours, [Visit(), Visit()])
    with app.app_context():
        db.session.get(Appointment, held).plan_id = their_plan
        db.session.commit()
    page = f"/couples/{ours}/appointments/{current}"

    shown = logged_in.get(page)
    review = logged_in.post_form(f"{page}/homework", {"outcome-0-A": "done"})

    assert shown.status_code == 200
    assert THEIR_HOMEWORK not in shown.get_data(as_text=True)
    assert review.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(HomeworkReview)) == 0
