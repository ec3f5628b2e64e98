"""Appointments, check-ins, homework review, signed notes, and progress across appointments."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from appointment_support import Visit, seed_history
from conftest import login
from counselor_app.extensions import db
from counselor_app.models import (
    Appointment,
    CheckIn,
    Flag,
    FlagOrigin,
    FlagProgress,
    FlagStatus,
    FlagStatusRecord,
    HomeworkReview,
    IssuedDocument,
    NoteAddendum,
    PrivateNote,
    SessionNote,
    Severity,
)
from intake_support import seed_intake
from plan_support import new_plan, pdf_text
from vignettes import VIGNETTES

MONEY = next(v for v in VIGNETTES if v.name == "money_fights")
NOTE_MARKER = "ZQXNOTEMARKER"
PRIVATE_MARKER = "ZQXPRIVATEMARKER"


@pytest.fixture
def couple_id(therapist, make_couple):
    return make_couple(therapist, ("Avery", "Blake"))


def twelve_plus() -> list[Visit]:
    """Fourteen weeks: B absent twice, A once, one cancelled, one no-show. A rises, B falls."""
    return [
        Visit(csi={"A": 10, "B": 15}, balance={"A": 8, "B": 12}),
        Visit(csi={"A": 11, "B": 15}, balance={"A": 9, "B": 12}),
        Visit(attendance="a", csi={"A": 11}, balance={"A": 9}),
        Visit(status="cancelled", attendance=None),
        Visit(csi={"A": 12, "B": 14}, balance={"A": 10, "B": 11}),
        Visit(status="no_show", attendance=None),
        Visit(attendance="b", csi={"B": 14}, balance={"B": 11}),
        Visit(csi={"A": 12, "B": 14}, balance={"A": 10, "B": 11}),
        Visit(csi={"A": 13, "B": 13}, balance={"A": 10, "B": 11}),
        Visit(attendance="a", csi={"A": 13}, balance={"A": 11}),
        Visit(csi={"A": 13, "B": 13}, balance={"A": 11, "B": 11}),
        Visit(csi={"A": 14, "B": 12}, balance={"A": 11, "B": 11}),
        Visit(csi={"A": 15, "B": 11}, balance={"A": 12, "B": 11}),
        Visit(csi={"A": 16, "B": 10}, balance={"A": 12, "B": 11}),
    ]


def page_of(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def version_in(page, prefix=""):
    name = f"{prefix}-version" if prefix else "version"
    return re.search(rf'name="{name}" type="hidden" value="(\d+)"', page).group(1)


# ------------------------------------------------------------------------------ appointments
def test_add_an_appointment_and_errors_keep_input(app, logged_in, couple_id):
    url = f"/couples/{couple_id}/appointments"
    bad = logged_in.post_form(
        url,
        {
            "starts_at": "2026-12-01T18:00",
            "duration_minutes": "50",
            "status": "completed",
            "plan_id": "0",
        },
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Record who attended" in page and 'value="2026-12-01T18:00"' in page
    assert 'value="50"' in page
    ok = logged_in.post_form(
        url,
        {
            "starts_at": "2026-12-01T18:00",
            "duration_minutes": "50",
            "status": "completed",
            "attendance": "both",
            "plan_id": "0",
        },
    )
    assert ok.status_code == 302
    with app.app_context():
        appointment = db.session.scalar(select(Appointment))
        assert appointment.starts_at.replace(tzinfo=UTC) == datetime(2026, 12, 1, 18, tzinfo=UTC)
        assert appointment.duration_minutes == 50


def test_dashboard_shows_last_and_next_appointments(app, logged_in, couple_id):
    seed_history(app, couple_id, [Visit(csi={"A": 12, "B": 12})])
    with app.app_context():
        db.session.add(
            Appointment(
                couple_id=couple_id,
                status="scheduled",
                starts_at=datetime.now(UTC) + timedelta(days=3),
            )
        )
        db.session.commit()
    page = page_of(logged_in, "/")
    assert "05 Jan 2026" in page
    assert (datetime.now(UTC) + timedelta(days=3)).strftime("%d %b %Y") in page


# ------------------------------------------------------------------------------ check-ins
def test_check_in_for_a_present_partner_and_none_for_an_absent_one(app, logged_in, couple_id):
    [appointment_id] = seed_history(app, couple_id, [Visit(attendance="a")])
    base = f"/couples/{couple_id}/appointments/{appointment_id}"
    page = page_of(logged_in, base)
    assert (
        "Please indicate the degree of happiness, all things considered, of your relationship."
        in page
    )
    assert "Blake was not at this appointment" in page
    answers = {
        "checkin-a-version": "0",
        "checkin-a-csi_1": "3",
        "checkin-a-csi_2": "4",
        "checkin-a-csi_3": "3",
        "checkin-a-csi_4": "4",
        **{
            f"checkin-a-bal_{k}": "2"
            for k in ("time_self", "time_together", "heard", "boundaries", "overall")
        },
    }
    missing = {k: v for k, v in answers.items() if k != "checkin-a-csi_4"}
    response = logged_in.post_form(f"{base}/check-in/a", missing)
    assert response.status_code == 422
    assert 'id="checkin-a-csi_4-error"' in response.get_data(as_text=True)
    assert logged_in.post_form(f"{base}/check-in/a", answers).status_code == 302
    refused = logged_in.post_form(
        f"{base}/check-in/b", {k.replace("-a-", "-b-"): v for k, v in answers.items()}
    )
    assert refused.status_code == 422
    assert "was not at this appointment" in refused.get_data(as_text=True)
    with app.app_context():
        rows = {
            (r.partner_label, r.instrument_id): r.total for r in db.session.scalars(select(CheckIn))
        }
    assert rows == {("A", "csi4"): 14, ("A", "balance"): 10}
    latest = page_of(logged_in, base)
    aside = latest[latest.index('id="latest-title"') :]
    assert re.search(r"Avery</th>\s*<td>14", aside) and re.search(r"Blake</th>\s*<td>—", aside)


# ------------------------------------------------------------------------------ homework
def test_homework_from_the_plan_is_reviewed_at_the_next_appointment(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    plan_id = new_plan(
        logged_in,
        couple_id,
        **{
            "homework-0-text": "Walk together twice this week.",
            "homework-1-text": "Each keep one evening for yourself.",
        },
    )
    first, second = seed_history(app, couple_id, [Visit(), Visit()])
    with app.app_context():
        db.session.get(Appointment, first).plan_id = plan_id
        db.session.commit()
    base = f"/couples/{couple_id}/appointments/{second}"
    page = page_of(logged_in, base)
    assert (
        "Walk together twice this week." in page and "Each keep one evening for yourself." in page
    )
    response = logged_in.post_form(
        f"{base}/homework",
        {
            "version": "0",
            "outcome-0-A": "done",
            "outcome-0-B": "partly",
            "note-0-B": "Only once",
            "outcome-1-A": "not_done",
            "outcome-1-B": "done",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        reviews = {
            (r.item_index, r.partner_label): (r.outcome.value, r.note)
            for r in db.session.scalars(select(HomeworkReview))
        }
    assert reviews[(0, "B")] == ("partly", "Only once")
    progress = page_of(logged_in, f"/couples/{couple_id}/progress")
    homework = progress[progress.index('id="homework-title"') :]
    assert re.search(r"Avery</th>\s*<td>50%", homework)  # 1 done, 1 not done
    assert re.search(r"Blake</th>\s*<td>75%", homework)  # 1 done, 1 partly


# ------------------------------------------------------------------------------ notes
def note_post(client, url, version, action="save", data="", **fields):
    payload = {
        "note-dap_data": data,
        "note-dap_assessment": fields.get("assessment", ""),
        "note-dap_plan": fields.get("plan", ""),
        "note-version": str(version),
        "action": action,
    }
    return client.post_form(url, payload)


def test_note_autosaves_signs_locks_and_takes_addenda(app, logged_in, couple_id):
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    base = f"/couples/{couple_id}/appointments/{appointment_id}"
    page = page_of(logged_in, base)
    # The page's own prefixed token is what the browser's FormData sends.
    token = re.search(r'name="note-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    saved = logged_in.post(
        f"{base}/note/autosave",
        data={
            "note-csrf_token": token,
            "note-dap_data": f"Talked about money {NOTE_MARKER}",
            "note-dap_assessment": "Calmer",
            "note-dap_plan": "Budget talk",
            "note-version": "0",
        },
    )
    assert saved.status_code == 200 and saved.json["saved"] is True
    assert saved.json["at"].endswith("+00:00")
    version = saved.json["version"]
    page = page_of(logged_in, base)
    assert NOTE_MARKER in page and "Draft saved" in page
    # Signing saves exactly the text on screen (typed after the last autosave) and locks it.
    sign = note_post(logged_in, f"{base}/note", version, "sign", data=f"Final words {NOTE_MARKER}")
    assert sign.status_code == 302
    with app.app_context():
        note = db.session.scalar(select(SessionNote))
        assert note.is_signed and note.data == f"Final words {NOTE_MARKER}"
        version = note.version
    # A POST that edits the signed note is refused, changes nothing, and keeps what was typed.
    edit = note_post(logged_in, f"{base}/note", version, data="Rewritten history")
    page = edit.get_data(as_text=True)
    assert edit.status_code == 409
    assert "signed and locked" in page and "Data: Rewritten history" in page
    auto = logged_in.post_form(
        f"{base}/note/autosave",
        {
            "note-dap_data": "Rewritten",
            "note-dap_assessment": "",
            "note-dap_plan": "",
            "note-version": str(version),
        },
    )
    assert auto.status_code == 409 and "signed" in auto.json["error"]
    with app.app_context():
        assert db.session.scalar(select(SessionNote)).data == f"Final words {NOTE_MARKER}"
    added = logged_in.post_form(
        f"{base}/note/addenda", {"addendum-text": "Correction: budget talk moved."}
    )
    assert added.status_code == 302
    page = page_of(logged_in, base)
    assert f"Final words {NOTE_MARKER}" in page and "Correction: budget talk moved." in page
    with app.app_context():
        assert db.session.scalar(select(NoteAddendum)).text == "Correction: budget talk moved."
    # The appointment's record is locked with the note.
    details = logged_in.post_form(
        f"{base}/details",
        {
            "starts_at": "2026-01-05T17:00",
            "duration_minutes": "60",
            "status": "cancelled",
            "plan_id": "0",
            "version": "1",
        },
    )
    assert details.status_code == 422 and "record is locked" in details.get_data(as_text=True)


def test_signing_an_empty_note_is_refused(app, logged_in, couple_id):
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    response = note_post(
        logged_in, f"/couples/{couple_id}/appointments/{appointment_id}/note", 0, "sign"
    )
    assert response.status_code == 422
    assert "Write the note before signing it." in response.get_data(as_text=True)


def test_marking_a_partner_absent_removes_their_check_in(app, logged_in, couple_id):
    [appointment_id] = seed_history(app, couple_id, [Visit(csi={"A": 12, "B": 14})])
    response = logged_in.post_form(
        f"/couples/{couple_id}/appointments/{appointment_id}/details",
        {
            "starts_at": "2026-01-05T17:00",
            "duration_minutes": "60",
            "status": "completed",
            "attendance": "a",
            "plan_id": "0",
            "version": "1",
        },
        follow_redirects=True,
    )
    assert "Partner B&#39;s check-in at this appointment was removed" in response.get_data(
        as_text=True
    )
    with app.app_context():
        assert {r.partner_label for r in db.session.scalars(select(CheckIn))} == {"A"}


def test_the_notes_conflict_page_does_not_save_as_one_types(app, logged_in, couple_id):
    """Shown again after another tab saved the note, the form holds this tab's stale copy with
    the current version: saved as the therapist starts to compare, it would replace the other
    tab's note unseen. So that page posts only when Save is pressed."""
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    base = f"/couples/{couple_id}/appointments/{appointment_id}"
    assert 'data-autosave="' in page_of(logged_in, base)
    assert note_post(logged_in, f"{base}/note", 0, data="Tab one").status_code == 302
    conflict = note_post(logged_in, f"{base}/note", 0, data="Tab two")
    page = conflict.get_data(as_text=True)
    assert conflict.status_code == 409 and "Tab two" in page  # kept for comparing
    assert 'data-autosave="' not in page
    with app.app_context():
        assert db.session.scalar(select(SessionNote)).data == "Tab one"


def test_addendum_before_signing_is_refused(app, logged_in, couple_id):
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    response = logged_in.post_form(
        f"/couples/{couple_id}/appointments/{appointment_id}/note/addenda", {"addendum-text": "x"}
    )
    assert response.status_code == 409
    with app.app_context():
        assert db.session.scalar(select(NoteAddendum)) is None


def test_private_notes_are_stored_apart(app, logged_in, couple_id):
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    base = f"/couples/{couple_id}/appointments/{appointment_id}"
    response = logged_in.post_form(
        f"{base}/private-note", {"private-text": PRIVATE_MARKER, "private-version": "0"}
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(PrivateNote)).text == PRIVATE_MARKER
        assert db.session.scalar(select(SessionNote)) is None
    page = page_of(logged_in, base)
    assert PRIVATE_MARKER in page  # shown to the therapist on the appointment page only
    export = logged_in.get(f"/couples/{couple_id}/intake/export.json").get_data(as_text=True)
    assert PRIVATE_MARKER not in export
    assert logged_in.post_form(f"/couples/{couple_id}/progress/issue/report").status_code == 302
    with app.app_context():
        report = db.session.scalar(select(IssuedDocument)).content
    assert PRIVATE_MARKER not in pdf_text(report)


# ------------------------------------------------------------------------------ flags
def test_flag_status_over_time(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A", intake=dict(MONEY.a))
    seed_intake(app, couple_id, "B", intake=dict(MONEY.b))
    with app.app_context():
        flag = db.session.scalar(select(Flag).where(Flag.challenge_key == "financial_tension"))
        flag.status = FlagStatus.CONFIRMED
        db.session.commit()
        flag_id = flag.id
    ids = seed_history(app, couple_id, [Visit(), Visit(), Visit()])
    for appointment_id, status in zip(ids, ("active", "improving", "improving"), strict=True):
        response = logged_in.post_form(
            f"/couples/{couple_id}/appointments/{appointment_id}/flags",
            {f"flag-{flag_id}": status, "version": "0"},
        )
        assert response.status_code == 302
    page = page_of(logged_in, f"/couples/{couple_id}/progress")
    flags = page[page.index('id="flags-title"') :]
    assert "now improving" in flags
    assert "active from 05 Jan 2026" in flags and "improving from 12 Jan 2026" in flags
    assert "19 Jan" not in flags  # no change at the third appointment


def test_progress_shows_only_the_couples_own_flags(
    app, logged_in, therapist, couple_id, make_couple
):
    # record_flag_statuses never links another couple's flag; the progress query must not
    # trust that either, since the page would then name another couple's challenge.
    other = make_couple(therapist, ("Robin", "Lee"))
    (appointment_id,) = seed_history(app, couple_id, [Visit()])
    with app.app_context():
        flag = Flag(
            couple_id=other,
            challenge_key="boundary_strain",
            origin=FlagOrigin.THERAPIST,
            status=FlagStatus.CONFIRMED,
            severity=Severity.HIGH,
            partners="AB",
        )
        db.session.add(flag)
        db.session.flush()
        db.session.add(
            FlagStatusRecord(
                appointment_id=appointment_id, flag_id=flag.id, status=FlagProgress.ACTIVE
            )
        )
        db.session.commit()
    assert "Boundary strain" in page_of(logged_in, f"/couples/{other}/assessment")
    assert "Boundary strain" not in page_of(logged_in, f"/couples/{couple_id}/progress")


# ------------------------------------------------------------------------------ progress
def test_progress_page_with_fourteen_appointments(app, logged_in, couple_id):
    seed_history(app, couple_id, twelve_plus())
    page = page_of(logged_in, f"/couples/{couple_id}/progress")
    assert page.count("<svg") == 2 and "<script" not in page.split("</main>")[0].split("<main")[1]
    assert "Distress cut-off (13.5)" in page
    csi = page[page.index('id="measure-csi4"') :]
    assert re.search(
        r"Avery</th>\s*<td>10</td>\s*<td>15</td>\s*<td>16", csi
    )  # baseline, prev, latest
    assert re.search(r"Blake</th>\s*<td>15</td>\s*<td>11</td>\s*<td>10 ▼ distressed", csi)
    assert "+6" in csi and "-5" in csi
    assert "rising while" in page  # the divergence alert fires
    assert "Held: 12" in page and "Cancelled: 1" in page and "No-show: 1" in page


def test_no_divergence_alert_when_both_improve(app, logged_in, couple_id):
    seed_history(app, couple_id, [Visit(csi={"A": 10 + i, "B": 8 + i}) for i in range(5)])
    page = page_of(logged_in, f"/couples/{couple_id}/progress")
    assert "Partners diverging" not in page


def test_progress_page_query_count_does_not_grow(app, logged_in, couple_id, count_queries):
    def count() -> int:
        with count_queries() as statements:
            response = logged_in.get(f"/couples/{couple_id}/progress")
        assert response.status_code == 200
        return len(statements)

    seed_history(app, couple_id, [Visit(csi={"A": 12, "B": 13}, balance={"A": 9, "B": 10})] * 3)
    with_three = count()
    seed_history(app, couple_id, [Visit(csi={"A": 12, "B": 13}, balance={"A": 9, "B": 10})] * 57)
    assert count() == with_three


def test_progress_report_pdfs(app, logged_in, couple_id):
    seed_history(app, couple_id, twelve_plus())
    [appointment_id] = seed_history(app, couple_id, [Visit(csi={"A": 17, "B": 9})], first_week=14)
    base = f"/couples/{couple_id}/appointments/{appointment_id}"
    assert note_post(logged_in, f"{base}/note", 0, data=NOTE_MARKER).status_code == 302
    assert (
        logged_in.post_form(
            f"{base}/private-note", {"private-text": PRIVATE_MARKER, "private-version": "0"}
        ).status_code
        == 302
    )
    for kind in ("report", "summary-a", "summary-b"):
        assert logged_in.post_form(f"/couples/{couple_id}/progress/issue/{kind}").status_code == 302
    with app.app_context():
        documents = {
            (d.kind.value, d.series): d.content for d in db.session.scalars(select(IssuedDocument))
        }
    report = " ".join(pdf_text(documents[("progress_report", "couple")]).split())
    for expected in (
        "Progress report: Avery & Blake",
        "05 Jan 2026",
        "Baseline",
        "rising while",
        "Cancelled",
        "No-show",
    ):
        assert expected in report, expected
    assert re.search(r"Avery 10 16 17 \+7", report)
    assert PRIVATE_MARKER not in report
    avery = " ".join(pdf_text(documents[("progress_summary", "partner-A")]).split())
    blake = " ".join(pdf_text(documents[("progress_summary", "partner-B")]).split())
    assert "Your progress: Avery" in avery and "You have come to 12 of our sessions." in avery
    assert "have gone up" in avery and "have gone down" in blake
    for summary, other in ((avery, "Blake"), (blake, "Avery")):
        folded = summary.lower()
        assert other not in summary  # nothing about the other partner
        for banned in (
            NOTE_MARKER.lower(),
            PRIVATE_MARKER.lower(),
            "flag",
            "safety",
            "cut-off",
            "distress",
            "csi",
            "score",
        ):
            assert banned not in folded, banned
        figures = re.sub(
            r"\d{1,2} \w{3} 2026|You have come to \d+|Of \d+ homework|done \d+|partly done \d+|Page \d of \d",
            "",
            summary,
        )
        assert not re.search(r"\d", figures), figures


def test_another_therapist_cannot_reach_appointments_or_progress(
    app, client, make_therapist, couple_id
):
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    login(client, make_therapist("Intruder"))
    base = f"/couples/{couple_id}/appointments/{appointment_id}"
    for url in [f"/couples/{couple_id}/appointments", base, f"/couples/{couple_id}/progress"]:
        assert client.get(url).status_code == 404, url
    for url in [
        f"{base}/details",
        f"{base}/check-in/a",
        f"{base}/homework",
        f"{base}/flags",
        f"{base}/note",
        f"{base}/note/autosave",
        f"{base}/note/sign",
        f"{base}/note/addenda",
        f"{base}/private-note",
        f"/couples/{couple_id}/appointments",
        f"/couples/{couple_id}/progress/issue/report",
    ]:
        assert (
            client.post_form(url, {"note-version": "0", "private-version": "0"}).status_code == 404
        ), url
    with app.app_context():
        assert db.session.scalar(select(SessionNote)) is None
        assert db.session.scalar(select(PrivateNote)) is None


def test_review_survives_an_edited_plan_and_refuses_absent_partners(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    plan_id = new_plan(
        logged_in,
        couple_id,
        **{
            "homework-0-text": "Walk together twice this week.",
            "homework-1-text": "Each keep one evening for yourself.",
        },
    )
    first, second = seed_history(app, couple_id, [Visit(), Visit(attendance="a")])
    with app.app_context():
        db.session.get(Appointment, first).plan_id = plan_id
        db.session.commit()
    base = f"/couples/{couple_id}/appointments/{second}"
    refused = logged_in.post_form(f"{base}/homework", {"outcome-0-B": "done", "version": "0"})
    assert refused.status_code == 422
    assert "Partner B was not at this appointment" in refused.get_data(as_text=True)
    saved = logged_in.post_form(f"{base}/homework", {"outcome-1-A": "done", "version": "0"})
    assert saved.status_code == 302
    # The plan loses its second assignment afterwards: the page still opens, and the old
    # review is not shown against a different assignment.
    with app.app_context():
        from counselor_app.models import SessionPlan

        plan = db.session.get(SessionPlan, plan_id)
        plan.homework = [plan.homework[0]]
        db.session.commit()
    page = page_of(logged_in, base)
    assert "Walk together twice this week." in page
    assert "Each keep one evening for yourself." not in page


def test_the_chart_shows_a_new_check_in_at_once(app, logged_in, couple_id):
    seed_history(app, couple_id, [Visit(csi={"A": 12, "B": 13}), Visit(csi={"A": 13, "B": 13})])
    first = page_of(logged_in, f"/couples/{couple_id}/progress")
    assert "Avery, 12 Jan: 13" in first
    seed_history(app, couple_id, [Visit(csi={"A": 19, "B": 13})], first_week=2)
    again = page_of(logged_in, f"/couples/{couple_id}/progress")
    assert "Avery, 19 Jan: 19" in again
