"""A couple's whole record as a ZIP (JSON and every issued PDF), and erasing a couple."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from sqlalchemy import select

from counselor_app.audit.services import verify
from counselor_app.extensions import db
from counselor_app.models import AuditEvent
from marker_support import fill_every_free_text
from snapshot_support import snapshot

# Tables that hold no client data, or that must outlive an erase (the audit trail).
NOT_CLIENT_DATA = {
    f"counselor_{name}"
    for name in ("therapist", "login_failure", "practice", "strategy_text", "audit_event")
}


def issue_documents(client, couple_id, plan_id):
    for kind in ("plan", "handout"):
        response = client.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/{kind}")
        assert response.status_code == 302


def audit_actions(app, couple_id):
    with app.app_context():
        query = select(AuditEvent.action, AuditEvent.endpoint).where(
            AuditEvent.couple_id == couple_id
        )
        return set(db.session.execute(query).all())


def test_export_zip_holds_the_whole_record_and_every_issued_pdf(app, logged_in):
    filled = fill_every_free_text(app, logged_in)
    couple_id, markers = filled["couple_id"], filled["markers"]
    issue_documents(logged_in, couple_id, filled["plan_id"])

    response = logged_in.get(f"/couples/{couple_id}/export.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert f'filename="couple-{couple_id}.zip"' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert "README.txt" in names and "couple.json" in names
    record = json.loads(archive.read("couple.json"))

    assert record["couple"]["presenting_concerns"] == markers["presenting_concerns"]
    assert [p["display_name"] for p in record["partners"]] == [
        markers["partner_a_name"],
        markers["partner_b_name"],
    ]
    [plan] = record["plans"]
    assert plan["goals"] == markers["plan_goals"]
    assert plan["private_notes"] == markers["plan_private_notes"]
    [appointment] = record["appointments"]
    note = appointment["note"]
    assert note["data"] == markers["note_data"] and note["status"] == "signed"
    assert [a["text"] for a in note["addenda"]] == [markers["addendum"]]
    assert {c["partner"] for c in appointment["check_ins"]} == {"A", "B"}
    assert record["intake"]["safety_alert"]["decision_note"] == markers["safety_decision_note"]
    # Every issued PDF is there, byte for byte as issued.
    assert len(record["documents"]) == 2
    for document in record["documents"]:
        content = archive.read(document["file"])
        assert content.startswith(b"%PDF-")
        assert hashlib.sha256(content).hexdigest() == document["sha256"]
    # Private psychotherapy notes stay out of every file of the archive.
    for name in names:
        assert markers["private_note"].encode() not in archive.read(name), name
    assert ("export", "couple.export_zip") in audit_actions(app, couple_id)


def test_erase_asks_for_the_name_and_a_wrong_one_erases_nothing(app, logged_in):
    filled = fill_every_free_text(app, logged_in)
    couple_id = filled["couple_id"]
    page = logged_in.get(f"/couples/{couple_id}/erase").get_data(as_text=True)
    assert "This cannot be undone" in page
    assert "1 session plans" in page and "1 appointments" in page
    before = snapshot(app)

    response = logged_in.post_form(f"/couples/{couple_id}/erase", {"confirm_name": "Someone"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="confirm_name-error"' in page and "does not match" in page
    assert 'value="Someone"' in page  # what was typed stays
    after = snapshot(app)
    assert {t: rows for t, rows in after.items() if t != "counselor_audit_event"} == {
        t: rows for t, rows in before.items() if t != "counselor_audit_event"
    }
    empty = logged_in.post_form(f"/couples/{couple_id}/erase", {"confirm_name": " "})
    assert empty.status_code == 422 and "Type the couple" in empty.get_data(as_text=True)


def test_erase_removes_every_row_of_the_couple_and_leaves_an_audit_entry(
    app, logged_in, therapist, make_couple
):
    filled = fill_every_free_text(app, logged_in)
    couple_id, markers = filled["couple_id"], filled["markers"]
    issue_documents(logged_in, couple_id, filled["plan_id"])
    other_id = make_couple(therapist, ("Lee", "Kim"), concerns="Another couple's concerns")
    before = snapshot(app)
    name = f"{markers['partner_a_name']} & {markers['partner_b_name']}"

    # The name is matched without regard to case or spacing.
    response = logged_in.post_form(
        f"/couples/{couple_id}/erase", {"confirm_name": "  " + name.lower().replace(" ", "  ")}
    )
    assert response.status_code == 302
    assert "erased" in logged_in.get(response.headers["Location"]).get_data(as_text=True)

    after = snapshot(app)
    client_tables = sorted(set(after) - NOT_CLIENT_DATA)
    assert (
        all(before["counselor_session_note"]) and before["counselor_issued_document"]
    )  # there was data
    remaining = {table: len(after[table]) for table in client_tables if after[table]}
    # Only the other couple (and their two partners) is left.
    assert remaining == {"counselor_couple": 1, "counselor_partner": 2}
    assert after["counselor_couple"][0][0] == other_id
    assert logged_in.get(f"/couples/{couple_id}").status_code == 404
    assert logged_in.get(f"/couples/{other_id}").status_code == 200
    # The audit trail keeps what was done, and stays intact.
    assert ("delete", "couple.erase") in audit_actions(app, couple_id)
    with app.app_context():
        assert verify().ok
