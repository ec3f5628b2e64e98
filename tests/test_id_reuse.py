"""Issue 18: an erased couple's ids are never given to new records, so the audit trail's rows
about the erased records never name another couple's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from appointment_support import Visit, seed_history
from conftest import add_couple
from counselor_app.extensions import db
from counselor_app.invitations import services as invitations
from counselor_app.models import AuditEvent, Couple, InvitationPurpose
from intake_support import seed_intake
from plan_support import new_plan, plan_form
from snapshot_support import snapshot
from vignettes import SAFE, VIGNETTES

DAY = timedelta(days=1)
MONEY = next(v for v in VIGNETTES if v.name == "money_fights")
# Every table of a couple's records (the erase's cascade), each named by its rows' ids.
COUPLE_TABLES = {
    f"counselor_{name}"
    for name in (
        "couple",
        "partner",
        "response",
        "flag",
        "safety_alert",
        "session_plan",
        "issued_document",
        "appointment",
        "check_in",
        "session_note",
        "note_addendum",
        "private_note",
        "invitation",
    )
}


def a_whole_couple(app, client, therapist_id: int) -> int:
    """A couple with a record in every table of theirs: answers, flags, a safety alert, an
    appointment with check-ins and notes, a plan and an issued handout, a partner's link."""
    couple_id = add_couple(app, therapist_id)
    seed_intake(app, couple_id, "A", MONEY.a, safety={**SAFE, "saf_fear": "yes"})
    seed_intake(app, couple_id, "B", MONEY.b)
    base = f"/couples/{couple_id}"
    page = client.get(f"{base}/assessment").get_data(as_text=True)
    decision = {
        # The one decision that lets the plan's handout below be issued (issue 17).
        "safety-decision": "joint_ok",
        "safety-note": "Seen alone first; a safety plan is in place.",
        "safety-version": plan_form(page).get("safety-version", "1"),
    }
    assert client.post_form(f"{base}/safety/decision", decision).status_code == 302
    [appointment_id] = seed_history(app, couple_id, [Visit(csi={"A": 12, "B": 13})])
    visit = f"{base}/appointments/{appointment_id}"
    for url, form in (
        (f"{visit}/private-note", {"private-text": "Private.", "private-version": "0"}),
        (f"{visit}/note", {"note-dap_data": "Data.", "note-version": "0", "action": "sign"}),
        (f"{visit}/note/addenda", {"addendum-text": "Later."}),
    ):
        assert client.post_form(url, form).status_code == 302, url
    plan_id = new_plan(client, couple_id, strategies=["quality_time"])
    assert client.post_form(f"{base}/plans/{plan_id}/issue/handout").status_code == 302
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        # Made directly: both intakes are complete, so the page would offer no link to make.
        invitations.create(
            couple,
            invitations.Request(couple.partners[0], InvitationPurpose.CHECK_IN, None, DAY),
            couple.therapist,
        )
        db.session.commit()
    return couple_id


def ids_by_table(app) -> dict[str, set[int]]:
    return {table: {row[0] for row in rows} for table, rows in snapshot(app).items()}


def test_a_couple_after_an_erase_gets_none_of_the_erased_couples_ids(app, logged_in, therapist):
    erased_id = a_whole_couple(app, logged_in, therapist.id)
    erased = ids_by_table(app)
    assert [table for table in sorted(COUPLE_TABLES) if not erased[table]] == []

    with app.app_context():
        couple = db.session.get(Couple, erased_id)
        confirm = f"{couple.partners[0].display_name} & {couple.partners[1].display_name}"
    response = logged_in.post_form(f"/couples/{erased_id}/erase", {"confirm_name": confirm})
    assert response.status_code == 302

    a_whole_couple(app, logged_in, therapist.id)
    now = ids_by_table(app)
    reused = {table: sorted(erased[table] & now[table]) for table in COUPLE_TABLES}
    assert reused == {table: [] for table in COUPLE_TABLES}
    # The trail's rows about the erased couple still name no couple of today's.
    with app.app_context():
        about = select(AuditEvent.id).where(AuditEvent.couple_id == erased_id)
        assert db.session.scalars(about).first() and db.session.get(Couple, erased_id) is None
