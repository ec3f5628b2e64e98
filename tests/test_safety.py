"""Safety decisions as categories that mean something, the private note's "read before joint
work" notice, and no progress summary for a partner with nothing to summarise.

Page-level tests run standalone and mounted in the reference host (tests/host_support.py).
"""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from appointment_support import Visit, seed_history
from conftest import PASSWORD, add_couple, base_config, login
from counselor_app import create_app
from counselor_app.assessment.services import rescore
from counselor_app.auth.services import create_therapist
from counselor_app.encryption import encrypt
from counselor_app.extensions import db
from counselor_app.models import (
    AuditEvent,
    Couple,
    IssuedDocument,
    Response,
    SafetyAlert,
    SafetyNotice,
    Therapist,
)
from counselor_app.models.base import utcnow
from counselor_app.schema import downgrade, upgrade
from host_support import (  # noqa: F401  (fixtures)
    PREFIX,
    clinician,
    host,
    host_client,
    host_template,
    other_clinician,
)
from intake_support import seed_intake
from plan_support import clinical_leaks, issued, new_plan, pdf_text
from vignettes import SAFE

NOTE = "ZQXNOTE He checks my phone."
CHANGED_NOTE = "ZQXNOTE He checks my phone and my mail."
BANNER = "An item needs your review before joint work continues"


@dataclass
class Site:
    """The couple's therapist (``owner``, named ``name``) and another practice's therapist."""

    app: Flask
    prefix: str
    owner: Any
    name: str
    couple_id: int
    stranger: Any

    def url(self, path: str) -> str:
        return f"{self.prefix}/couples/{self.couple_id}{path}"

    def page(self, path: str) -> str:
        response = self.owner.get(self.url(path))
        assert response.status_code == 200, path
        return response.get_data(as_text=True)

    def plan(self) -> int:
        return new_plan(self.owner, self.couple_id, prefix=self.prefix, strategies=["quality_time"])

    def issue_handout(self, plan_id: int) -> Any:
        return self.owner.post_form(self.url(f"/plans/{plan_id}/issue/handout"))

    def decide(self, decision: str, note: str, version: int | None = None) -> Any:
        with self.app.app_context():
            current = db.session.scalar(select(SafetyAlert.version))
        return self.owner.post_form(
            self.url("/safety/decision"),
            {
                "safety-decision": decision,
                "safety-note": note,
                "safety-version": str(current if version is None else version),
            },
        )

    def notice(self) -> SafetyNotice | None:
        with self.app.app_context():
            return db.session.scalar(select(SafetyNotice))

    def acknowledge(self, client: Any = None, version: int | None = None) -> Any:
        notice = self.notice()
        return (client or self.owner).post_form(
            self.url("/safety/notice/acknowledge"),
            {"notice-version": str(notice.version if version is None else version)},
        )

    def audited(self, endpoint: str) -> int:
        with self.app.app_context():
            query = select(AuditEvent).where(AuditEvent.endpoint.like(f"%{endpoint}"))
            return len(db.session.scalars(query).all())


@pytest.fixture
def standalone(app, logged_in, therapist, make_therapist) -> Site:
    stranger = app.test_client()
    assert login(stranger, make_therapist("Other Practice")).status_code == 302
    return Site(app, "", logged_in, therapist.name, add_couple(app, therapist.id), stranger)


@pytest.fixture
def mounted(host, host_client, clinician, other_clinician) -> Site:
    stranger = host.test_client()
    stranger.sign_in(other_clinician)
    assert host_client.get(f"{PREFIX}/").status_code == 200  # our therapist, on first visit
    with host.app_context():
        owner_id = db.session.scalar(select(Therapist.id).where(Therapist.email == clinician.email))
    return Site(host, PREFIX, host_client, clinician.name, add_couple(host, owner_id), stranger)


@pytest.fixture(params=["standalone", "mounted"])
def site(request: pytest.FixtureRequest, backend: str) -> Site:
    """``backend`` named here: the database parametrisation only sees static fixture names."""
    return request.getfixturevalue(request.param)


def test_only_joint_work_may_continue_releases_the_couples_handout(site):
    seed_intake(site.app, site.couple_id, "A", safety={**SAFE, "saf_fear": "yes"})
    seed_intake(site.app, site.couple_id, "B")
    plan_id = site.plan()
    held = {
        "individual_first": "individual sessions before any joint work",
        "referred": "referral to specialist support with joint work paused",
    }
    for decision, why in held.items():
        assert site.decide(decision, "Seen alone; reasons noted.").status_code == 302
        refused = site.issue_handout(plan_id)
        assert refused.status_code == 409, decision
        assert why in refused.get_data(as_text=True)
        # Wherever the therapist would look: the plan, its preview, the document list.
        for path in (f"/plans/{plan_id}", "/plans", "/assessment"):
            page = site.page(path)
            assert why in page and "change the decision on the assessment page to" in page
        assert site.owner.get(site.url(f"/plans/{plan_id}/preview/handout")).status_code == 409
        assert "Issue handout PDF" not in site.page(f"/plans/{plan_id}")
    assert issued(site.app, plan_id, "handout") == []

    # Joint work may continue only with the safety plan noted: the message is beside the field.
    blank = site.decide("joint_ok", "  ")
    assert blank.status_code == 422
    assert 'id="safety-note-error"' in blank.get_data(as_text=True)
    assert "Note the safety plan that lets joint work continue." in blank.get_data(as_text=True)
    assert site.decide("joint_ok", "ZQXPLAN Weekly check alone; exit plan.").status_code == 302
    assert site.issue_handout(plan_id).status_code == 302
    handout = pdf_text(issued(site.app, plan_id, "handout")[0][3])
    assert clinical_leaks(handout, ["ZQXPLAN"]) == []

    # Changed later (a new concern): held again; a page opened before the change is refused.
    with site.app.app_context():
        before = db.session.scalar(select(SafetyAlert.version))
    assert site.decide("referred", "Referred after new concern.").status_code == 302
    assert site.decide("joint_ok", "Stale page.", version=before).status_code == 409
    assert site.issue_handout(plan_id).status_code == 409
    assert site.audited("couple.assessment.safety_decision") == 4


def write_note(site: Site, note: str) -> None:
    """Partner A's note changed (as a draft saved again would), then re-scored."""
    with site.app.app_context():
        response = db.session.scalar(select(Response).where(Response.instrument_id == "safety"))
        response.answers = {**response.answers, "saf_notes": note}
        rescore(db.session.get(Couple, site.couple_id))
        db.session.commit()


def test_a_private_note_raises_a_notice_to_read_not_an_alert(site):
    seed_intake(site.app, site.couple_id, "A", safety={**SAFE, "saf_notes": NOTE})
    seed_intake(site.app, site.couple_id, "B")
    plan_id = site.plan()
    with site.app.app_context():
        assert db.session.scalar(select(SafetyAlert)) is None  # not a positive screen
    page = site.page("/assessment")
    assert "Read before joint work: note not yet read" in page and NOTE in page
    assert "Safety alert" not in page and "safety-decision" not in page
    couple_page = site.page("")
    assert BANNER in couple_page and NOTE not in couple_page
    refused = site.issue_handout(plan_id)
    assert refused.status_code == 409
    assert "private safety note that you have not marked as read" in refused.get_data(as_text=True)

    # Read on a page opened before the note changed: refused, and the new words are shown.
    opened = site.notice().version
    write_note(site, CHANGED_NOTE)
    stale = site.acknowledge(version=opened)
    assert stale.status_code == 409 and CHANGED_NOTE in stale.get_data(as_text=True)
    assert site.notice().is_open

    assert site.acknowledge().status_code == 302
    notice = site.notice()
    assert notice.acknowledged_at is not None and notice.notes == {"A": CHANGED_NOTE}
    assert f"Marked read by {site.name}" in site.page("/assessment")
    assert BANNER not in site.page("")
    assert site.audited("couple.assessment.acknowledge_notice") == 1
    assert site.issue_handout(plan_id).status_code == 302
    handout = pdf_text(issued(site.app, plan_id, "handout")[0][3])
    assert clinical_leaks(handout, ["ZQXNOTE", "read before"]) == []
    # A note written again after it was read asks to be read again.
    write_note(site, NOTE)
    assert site.notice().is_open and site.issue_handout(plan_id).status_code == 409


def test_a_positive_answer_with_a_note_keeps_the_alert_beside_the_notice(standalone):
    site = standalone
    seed_intake(
        site.app, site.couple_id, "A", safety={**SAFE, "saf_fear": "yes", "saf_notes": NOTE}
    )
    seed_intake(site.app, site.couple_id, "B")
    plan_id = site.plan()
    with site.app.app_context():
        alert = db.session.scalar(select(SafetyAlert))
        assert alert.positive_items["A"] == ["saf_fear"] and alert.is_open
    assert site.notice().is_open
    page = site.page("/assessment")
    assert "Safety alert: decision needed" in page and "Read before joint work" in page
    assert site.acknowledge().status_code == 302
    assert "A safety alert is open" in site.issue_handout(plan_id).get_data(as_text=True)
    assert site.decide("joint_ok", "Plan agreed with A alone.").status_code == 302
    assert site.issue_handout(plan_id).status_code == 302


def test_the_note_can_be_marked_read_only_by_the_couples_therapist_with_the_token(site):
    seed_intake(site.app, site.couple_id, "A", safety={**SAFE, "saf_notes": NOTE})
    assert site.acknowledge(client=site.stranger).status_code == 404
    without_token = site.owner.post(
        site.url("/safety/notice/acknowledge"), data={"notice-version": "1"}
    )
    assert without_token.status_code == 400
    assert site.notice().is_open and site.audited("acknowledge_notice") == 0


def test_no_summary_for_a_partner_with_nothing_to_summarise(site):
    # Partner A came alone and checked in; partner B has no intake, no check-in, no session.
    seed_intake(site.app, site.couple_id, "A", safety={**SAFE, "saf_fear": "yes"})
    seed_history(site.app, site.couple_id, [Visit(attendance="a", csi={"A": 11})])
    # A summary is a partner's own, not joint material: a hold on joint work does not stop it.
    assert site.decide("individual_first", "Seeing A alone first.").status_code == 302
    page = site.page("/progress")
    with site.app.app_context():
        name_a, name_b = (p.display_name for p in db.session.get(Couple, site.couple_id).partners)
    assert f"Issue {name_a}&#39;s own summary (PDF)" in page
    assert f"No summary for {name_b} yet: nothing to summarise." in page
    assert f"Issue {name_b}&#39;s own summary" not in page

    refused = site.owner.post_form(site.url("/progress/issue/summary-b"))
    assert refused.status_code == 409
    assert f"Nothing to summarise for {name_b} yet" in refused.get_data(as_text=True)
    assert site.owner.post_form(site.url("/progress/issue/summary-a")).status_code == 302
    with site.app.app_context():
        series = db.session.scalars(select(IssuedDocument.series)).all()
    assert series == ["partner-A"]


# ------------------------------------------------------------------------------ migration
@pytest.fixture
def migrating_app(empty_database, tmp_path):
    app = create_app(base_config(empty_database(), tmp_path))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def couple_at_0012(app: Flask, therapist_id: int, number: int) -> int:
    """A couple and its partners as revision 0012 stored them (pronouns in clear: 0014
    encrypts them, so today's models cannot write them there)."""
    with app.app_context():
        now = utcnow()
        couple_id = db.session.execute(
            text(
                "INSERT INTO counselor_couple (therapist_id, relationship_stage, "
                "presenting_concerns, status, created_at, updated_at, version) VALUES "
                "(:therapist, 'married', :concerns, 'active', :now, :now, 1) RETURNING id"
            ),
            {"therapist": therapist_id, "concerns": encrypt(b"").decode("ascii"), "now": now},
        ).scalar_one()
        for label in "AB":
            db.session.execute(
                text(
                    "INSERT INTO counselor_partner (couple_id, label, display_name, pronouns) "
                    "VALUES (:couple, :label, :name, '')"
                ),
                {"couple": couple_id, "label": label, "name": f"{label}{number}"},
            )
        db.session.commit()
        return couple_id


def test_note_only_alerts_become_notices_and_back(migrating_app):
    """0013: an alert raised by a note alone becomes a notice (read if it was decided); a
    positive answer keeps its alert and decision; the downgrade puts the note back."""
    app = migrating_app
    with app.app_context():
        upgrade("0012")
        therapist_id = create_therapist("Dana", "dana@example.org", PASSWORD).id
        db.session.commit()
    couples = [couple_at_0012(app, therapist_id, n) for n in range(3)]
    stored = [  # note only, open; note only, decided; a positive answer and a note, decided
        ({**SAFE, "saf_notes": NOTE}, ["saf_notes"], None),
        ({**SAFE, "saf_notes": NOTE}, ["saf_notes"], "individual_first"),
        ({**SAFE, "saf_fear": "yes", "saf_notes": NOTE}, ["saf_fear", "saf_notes"], "referred"),
    ]
    with app.app_context():
        for couple_id, (answers, items, decision) in zip(couples, stored, strict=True):
            partner_id = db.session.scalar(
                text("SELECT id FROM counselor_partner WHERE couple_id = :c AND label = 'A'"),
                {"c": couple_id},
            )
            db.session.add_all(
                [
                    Response(
                        couple_id=couple_id,
                        partner_id=partner_id,
                        instrument_id="safety",
                        instrument_version=1,
                        answers=answers,
                    ),
                ]
            )
            # As revision 0012 stored an alert: items, partners and decision in clear (0014
            # encrypts them; the models of today write them encrypted).
            db.session.execute(
                text(
                    "INSERT INTO counselor_safety_alert (couple_id, partners, positive_items, "
                    "raised_at, decision, decision_note, decided_at, decided_by_id, version) "
                    "VALUES (:couple, 'A', :items, :now, :decision, :note, :decided_at, "
                    ":decided_by, 1)"
                ),
                {
                    "couple": couple_id,
                    "items": json.dumps({"A": items, "B": []}),
                    "now": utcnow(),
                    "decision": decision,
                    "note": encrypt(b"Seen." if decision else b"").decode("ascii"),
                    "decided_at": utcnow() if decision else None,
                    "decided_by": therapist_id if decision else None,
                },
            )
        db.session.commit()

        upgrade()
        alerts = {a.couple_id: a for a in db.session.scalars(select(SafetyAlert))}
        notices = {n.couple_id: n for n in db.session.scalars(select(SafetyNotice))}
        assert set(alerts) == {couples[2]}
        assert alerts[couples[2]].positive_items == {"A": ["saf_fear"], "B": []}
        assert alerts[couples[2]].decision == "referred"
        assert [notices[c].notes for c in couples] == [{"A": NOTE}] * 3
        assert [notices[c].is_open for c in couples] == [True, False, False]
        assert notices[couples[1]].acknowledged_by_id == therapist_id
        db.session.commit()

        downgrade("0012")
        back = db.session.execute(
            text(
                "SELECT couple_id, positive_items, decision FROM counselor_safety_alert "
                "ORDER BY couple_id"
            )
        ).all()
        db.session.commit()
    assert [row.couple_id for row in back] == couples
    # PostgreSQL's json column comes back parsed, SQLite's as text.
    items_back = [
        (r.positive_items if isinstance(r.positive_items, dict) else json.loads(r.positive_items))
        for r in back
    ]
    assert [items["A"] for items in items_back] == [i for _, i, _ in stored]
    # A note read is "joint work can continue" to the code before; the others as they were.
    assert [row.decision for row in back] == [None, "joint_ok", "referred"]
