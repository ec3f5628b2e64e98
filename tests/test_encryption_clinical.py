"""Every clinical value (answers, scores, safety disclosures, pronouns) is stored only as
ciphertext, in the database and its backups; one altered value reads as unreadable and the rest
of its record and page still work."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select, text
from test_encryption import raw_database_text

from appointment_support import Visit, seed_history
from conftest import DATA_KEY, add_couple
from counselor_app.encryption import TOKEN_START, UNREADABLE_TEXT, encrypted_columns
from counselor_app.extensions import db
from counselor_app.instruments import BALANCE_ID, CSI4_ID, INTAKE_ID, SAFETY_ID, load
from counselor_app.models import (
    Base,
    CheckIn,
    Flag,
    FlagProgress,
    FlagStatusRecord,
    HomeworkOutcome,
    HomeworkReview,
    Partner,
    SafetyAlert,
    Therapist,
)
from counselor_app.schema import downgrade, upgrade
from host_support import PREFIX, clinician, host, host_client, host_template  # noqa: F401 (fixtures)
from intake_support import seed_intake
from marker_support import MONEY, fill_every_free_text
from plan_support import new_plan, pdf_text, plan_form
from vignettes import SAFE

# The model columns kept in clear, each for a reason the README gives: ids and foreign keys,
# dates, statuses and versions (queries, joins, sorting, concurrency); names and emails (the
# dashboard searches them); keys into the shipped library and the challenge list; hashes and
# sizes; accounts, settings and the therapist's own strategy texts, which are about nobody.
CLEAR = {
    "counselor_therapist": "id external_id email name password_hash is_admin active login_token "
    "calendar_feed_hash created_at",
    "counselor_login_failure": "id account failed_at",
    "counselor_form_draft": "id therapist_id path saved_at",
    "counselor_couple": "id therapist_id external_id relationship_stage "
    "relationship_length_months status created_at updated_at version",
    "counselor_partner": "id couple_id label display_name email external_id",
    "counselor_response": "id couple_id partner_id instrument_id instrument_version status "
    "started_at updated_at completed_at partner_answered_at version",
    "counselor_response_change": "id response_id changed_by_id changed_at",
    "counselor_flag": "id couple_id challenge_key origin status strategies ruleset_version "
    "currently_suggested suggested_at decided_at decided_by_id version",
    "counselor_safety_alert": "id couple_id raised_at decision decided_at decided_by_id version",
    "counselor_safety_notice": "id couple_id raised_at acknowledged_at acknowledged_by_id version",
    "counselor_practice": "id name contact_line crisis_line paper_size version",
    "counselor_strategy_text": "id therapist_id key is_custom title challenges minutes "
    "therapist_guidance client_explanation steps homework reflection_questions updated_at version",
    "counselor_session_plan": "id couple_id session_date focus_flag_ids strategy_keys "
    "created_by_id created_at updated_at version",
    "counselor_issued_document": "id couple_id plan_id kind series number source_digest filename "
    "sha256 size issued_by_id issued_at",
    "counselor_appointment": "id couple_id starts_at duration_minutes status attendance plan_id "
    "created_at updated_at version check_in_a_version check_in_b_version homework_version "
    "flags_version",
    "counselor_check_in": "id couple_id appointment_id partner_label instrument_id "
    "instrument_version answered_at invitation_id",
    "counselor_homework_review": "id appointment_id plan_id item_index partner_label",
    "counselor_flag_status_record": "id appointment_id flag_id recorded_at",
    "counselor_session_note": "id appointment_id status signed_at signed_by_id updated_at version",
    "counselor_note_addendum": "id note_id created_at created_by_id",
    "counselor_private_note": "id appointment_id updated_at version",
    "counselor_invitation": "id couple_id partner_id purpose appointment_id token_hash "
    "created_by_id created_at expires_at emailed_at opened_at started_at completed_at "
    "revoked_at version",
    "counselor_audit_event": "id at therapist_id action object_type object_id couple_id endpoint "
    "address chain key_id prev_hash hash",
    "counselor_maintenance": "id reason raised_by raised_at",
    "counselor_rate_limit": "key count expires_at",
}
# Encrypted by revision 0014 (0007 did the free text): the workflow below fills every one.
NEWLY_ENCRYPTED = {
    ("counselor_partner", "pronouns"),
    ("counselor_flag", "severity"),
    ("counselor_flag", "decided_severity"),
    ("counselor_flag", "partners"),
    ("counselor_flag", "evidence"),
    ("counselor_flag", "hits"),
    ("counselor_safety_alert", "partners"),
    ("counselor_safety_alert", "positive_items"),
    ("counselor_check_in", "answers"),
    ("counselor_check_in", "total"),
    ("counselor_homework_review", "outcome"),
    ("counselor_flag_status_record", "status"),
}


def test_every_column_is_encrypted_or_kept_in_clear_for_a_reason():
    """A new column has to be decided: encrypted, or added above (and to the README)."""
    encrypted = {(c.table.name, c.name) for c in encrypted_columns(Base.metadata)}
    clear = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if (table.name, column.name) not in encrypted
    }
    assert clear == {(table, name) for table, names in CLEAR.items() for name in names.split()}
    assert encrypted >= NEWLY_ENCRYPTED


def _item_ids() -> set[str]:
    return {item.id for i in (INTAKE_ID, CSI4_ID, SAFETY_ID, BALANCE_ID) for item in load(i).items}


# What must never be found in clear, by what it would reveal.
LEAK_PATTERNS = {
    # Any JSON object (answers, evidence, hits, positive items): the clear JSON columns left
    # hold lists of ids and keys only. PostgreSQL's row text doubles the quotes.
    "a JSON object key": re.compile(r'"[a-z][a-z0-9_]*"+\s*:'),
    "an item id (answers, evidence, safety items, a changed answer)": re.compile(
        "|".join(sorted((re.escape(i) for i in _item_ids()), key=len, reverse=True))
    ),
    "a rule id (a flag's hits)": re.compile(r"R-[A-Z]+-\d{2}"),
    "an intake question's text (a flag's evidence)": re.compile(
        re.escape(load(INTAKE_ID).item("fam_family_pressure").text[:40])
    ),
    "a homework outcome or flag progress": re.compile(r"not_done|improving"),
}


def leaks(raw: str) -> list[str]:
    return sorted(name for name, pattern in LEAK_PATTERNS.items() if pattern.search(raw))


def backup_text(app: Flask, tmp_path) -> str:
    backup_file = tmp_path / "scan.backup"
    result = app.test_cli_runner().invoke(args=["counselor", "backup", str(backup_file)])
    assert result.exit_code == 0, result.output
    return backup_file.read_bytes().decode("latin-1")


def add_progress_records(app: Flask, appointment_id: int, plan_id: int, couple_id: int) -> None:
    """A homework review and a flag's progress at the appointment, as the page records them."""
    with app.app_context():
        flag_id = db.session.scalars(select(Flag.id).where(Flag.couple_id == couple_id)).first()
        db.session.add_all(
            [
                HomeworkReview(
                    appointment_id=appointment_id,
                    plan_id=plan_id,
                    item_index=0,
                    assignment="Walk together",
                    partner_label="A",
                    outcome=HomeworkOutcome.NOT_DONE,
                ),
                FlagStatusRecord(
                    appointment_id=appointment_id, flag_id=flag_id, status=FlagProgress.IMPROVING
                ),
            ]
        )
        db.session.commit()


def test_no_answer_score_or_safety_item_in_clear_in_the_database_or_a_backup(
    app, logged_in, therapist, tmp_path, backend
):
    filled = fill_every_free_text(app, logged_in)
    # A second couple: a disclosure on the safety screen, flags, check-ins at two appointments.
    couple_id = add_couple(app, therapist.id, ("Quinn", "Rowan"))
    disclosed = {**SAFE, "saf_fear": "yes", "saf_sexual_pressure": "yes"}
    seed_intake(app, couple_id, "A", intake=MONEY.a, safety=disclosed)
    seed_intake(app, couple_id, "B", intake=MONEY.b)
    seed_history(app, couple_id, [Visit(csi={"A": 9, "B": 17}, balance={"A": 11, "B": 14})] * 2)
    add_progress_records(app, filled["appointment_id"], filled["plan_id"], filled["couple_id"])
    with app.app_context():  # the workflow reached every column 0014 encrypts
        alert = db.session.scalar(select(SafetyAlert).where(SafetyAlert.couple_id == couple_id))
        assert alert.positive_items["A"] == ["saf_fear", "saf_sexual_pressure"]
        for table, column in NEWLY_ENCRYPTED:
            query = text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
            stored = db.session.execute(query).scalars().all()
            assert stored and all(v.startswith(TOKEN_START.decode()) for v in stored), column

    raw, backup = raw_database_text(app, backend), backup_text(app, tmp_path)
    markers = filled["markers"]
    for found in (raw, backup):
        assert markers["partner_a_name"] in found and "Quinn" in found  # the scan can find
        assert leaks(found) == []
        assert markers["partner_a_pronouns"] not in found
        assert markers["partner_b_pronouns"] not in found


# ------------------------------------------------------------------------------ tampering
@dataclass
class Site:
    app: Flask
    prefix: str
    client: Any
    therapist_id: int

    def url(self, path: str) -> str:
        return f"{self.prefix}/couples/{path}"


@pytest.fixture
def standalone(app, logged_in, therapist) -> Site:
    return Site(app, "", logged_in, therapist.id)


@pytest.fixture
def mounted(host, host_client, clinician) -> Site:
    assert host_client.get(f"{PREFIX}/").status_code == 200  # makes our therapist
    with host.app_context():
        owner = db.session.scalar(select(Therapist.id).where(Therapist.email == clinician.email))
    return Site(host, PREFIX, host_client, owner)


@pytest.fixture(params=["standalone", "mounted"])
def site(request: pytest.FixtureRequest, backend: str) -> Site:
    """``backend`` named here: the database parametrisation only sees static fixture names."""
    return request.getfixturevalue(request.param)


def tamper(app: Flask, table: str, column: str, row_id: int, *, other_key: bool = False) -> str:
    """Alter one stored token: one character changed (its HMAC fails), or a token made under a
    key the app does not hold. Returns the altered token."""
    with app.app_context():
        where = f"FROM {table} WHERE id = :id"
        token = db.session.execute(text(f"SELECT {column} {where}"), {"id": row_id}).scalar_one()
        if other_key:
            altered = Fernet(Fernet.generate_key()).encrypt(b'"planted"').decode()
        else:
            middle = len(token) // 2
            altered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
        update = text(f"UPDATE {table} SET {column} = :token WHERE id = :id")  # noqa: S608
        db.session.execute(update, {"id": row_id, "token": altered})
        db.session.commit()
        return altered


def stored(app: Flask, table: str, column: str, row_id: int) -> str:
    with app.app_context():
        query = text(f"SELECT {column} FROM {table} WHERE id = :id")  # noqa: S608
        return db.session.execute(query, {"id": row_id}).scalar_one()


def test_an_altered_value_reads_as_unreadable_and_the_rest_of_the_record_works(site, caplog):
    app, client = site.app, site.client
    couple_id = add_couple(app, site.therapist_id, ("Harper", "Ellis"), concerns="Garden rows.")
    seed_intake(app, couple_id, "A", intake=MONEY.a, safety={**SAFE, "saf_fear": "yes"})
    seed_intake(app, couple_id, "B", intake=MONEY.b)
    seed_history(app, couple_id, [Visit(csi={"A": 9, "B": 17})])
    plan_id = new_plan(
        client,
        couple_id,
        prefix=site.prefix,
        goals="Intact goals: one calm talk a week.",
        **{"homework-0-text": "Tampered homework text"},
    )
    with app.app_context():
        partner_a = db.session.scalar(
            select(Partner.id).where(Partner.couple_id == couple_id, Partner.label == "A")
        )
        flag_id = db.session.scalars(select(Flag.id).where(Flag.couple_id == couple_id)).first()
        alert_id = db.session.scalar(
            select(SafetyAlert.id).where(SafetyAlert.couple_id == couple_id)
        )
        check_in_id = db.session.scalars(
            select(CheckIn.id).where(CheckIn.couple_id == couple_id)
        ).first()
    altered = {
        ("counselor_partner", "pronouns", partner_a): tamper(
            app, "counselor_partner", "pronouns", partner_a
        ),
        ("counselor_session_plan", "homework", plan_id): tamper(
            app, "counselor_session_plan", "homework", plan_id, other_key=True
        ),
        ("counselor_flag", "evidence", flag_id): tamper(app, "counselor_flag", "evidence", flag_id),
        ("counselor_safety_alert", "positive_items", alert_id): tamper(
            app, "counselor_safety_alert", "positive_items", alert_id
        ),
        ("counselor_check_in", "total", check_in_id): tamper(
            app, "counselor_check_in", "total", check_in_id
        ),
    }
    caplog.set_level(logging.ERROR)

    couple_page = client.get(site.url(couple_id))
    page = couple_page.get_data(as_text=True)
    assert couple_page.status_code == 200
    assert UNREADABLE_TEXT in page  # Harper's pronouns
    assert "she/her" in page and "Garden rows." in page  # the rest of the record

    plan_page = client.get(site.url(f"{couple_id}/plans/{plan_id}"))
    page = plan_page.get_data(as_text=True)
    assert plan_page.status_code == 200
    assert UNREADABLE_TEXT in page and " min" in page  # the homework marked, the agenda there
    preview = client.get(site.url(f"{couple_id}/plans/{plan_id}/preview/plan"))
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert UNREADABLE_TEXT in page and "Intact goals" in page
    assert "Tampered homework" not in page and "planted" not in page

    assessment = client.get(site.url(f"{couple_id}/assessment"))
    page = assessment.get_data(as_text=True)
    assert assessment.status_code == 200
    assert page.count(UNREADABLE_TEXT) >= 2  # the flag's evidence, the disclosed safety items
    assert "Safety alert" in page

    progress = client.get(site.url(f"{couple_id}/progress"))
    assert progress.status_code == 200

    archive = client.get(site.url(f"{couple_id}/export.zip"))
    assert archive.status_code == 200, archive.get_data(as_text=True)[:500]
    record = json.loads(zipfile.ZipFile(io.BytesIO(archive.data)).read("couple.json"))
    assert record["partners"][0]["pronouns"] == UNREADABLE_TEXT
    assert record["partners"][1]["pronouns"] == "she/her"
    [plan] = record["plans"]
    assert plan["homework"] == UNREADABLE_TEXT and plan["goals"].startswith("Intact goals")
    flags = {f["challenge_key"]: f for f in record["intake"]["flags"]}
    assert UNREADABLE_TEXT in [f["evidence"] for f in flags.values()]
    assert record["intake"]["safety_alert"]["positive_items"] == UNREADABLE_TEXT
    totals = [c["total"] for a in record["appointments"] for c in a["check_ins"]]
    assert UNREADABLE_TEXT in totals and 17 in totals

    # A PDF issued from the plan shows the marker in place of the homework, the rest intact.
    issue = client.post_form(site.url(f"{couple_id}/plans/{plan_id}/issue/plan"))
    assert issue.status_code == 302, issue.get_data(as_text=True)[:500]
    detail = client.get(issue.headers["Location"]).get_data(as_text=True)
    download = re.search(r'href="([^"]*/plans/documents/\d+)"', detail)
    assert download, detail[:500]
    pdf = client.get(download.group(1))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    words = " ".join(pdf_text(pdf.data).split())
    assert "unreadable" in words and "Intact goals" in words

    # The log names where (table, column, row id), never what.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for (table, column, row_id), token in altered.items():
        assert f"{table}.{column} in row id {row_id}" in logged
        assert token not in logged
    assert "Tampered homework" not in logged and "they/them" not in logged

    # Changing an unreadable value is refused; the altered token stays for investigation.
    edit_url = site.url(f"{couple_id}/plans/{plan_id}/edit")
    fields = plan_form(client.get(edit_url).get_data(as_text=True))
    refused = client.post_form(edit_url, {**fields, "homework-0-text": "New homework"})
    assert refused.status_code == 500
    assert "failed its integrity check" in refused.get_data(as_text=True)
    for (table, column, row_id), token in altered.items():
        assert stored(app, table, column, row_id) == token


# ------------------------------------------------------------------------------ migration 0014
ROWS_AT_0012 = (
    "INSERT INTO counselor_therapist (id, email, name, password_hash, is_admin, active, "
    "login_token, created_at) VALUES (1, 'm@example.org', 'M', 'x', false, true, 'tok', "
    "CURRENT_TIMESTAMP)",
    "INSERT INTO counselor_couple (id, therapist_id, relationship_stage, presenting_concerns, "
    "status, created_at, updated_at, version) VALUES (1, 1, 'married', :empty, 'active', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO counselor_partner (id, couple_id, label, display_name, pronouns) "
    "VALUES (1, 1, 'A', 'Avery', 'xe/xem-old')",
    "INSERT INTO counselor_flag (id, couple_id, challenge_key, origin, status, severity, "
    "partners, evidence, hits, strategies, currently_suggested, suggested_at, note, "
    "dismiss_reason, decided_severity, version) VALUES (1, 1, 'money_conflict', 'rules', "
    "'confirmed', 'moderate', 'AB', '[{\"item_id\": \"fin_arguments\"}]', "
    "'[{\"rule_id\": \"R-MONEY-01\"}]', '[]', true, CURRENT_TIMESTAMP, :empty, :empty, 'high', 1)",
    "INSERT INTO counselor_safety_alert (id, couple_id, partners, positive_items, raised_at, "
    'decision_note, version) VALUES (1, 1, \'A\', \'{"A": ["saf_fear"], "B": []}\', '
    "CURRENT_TIMESTAMP, :empty, 1)",
    "INSERT INTO counselor_appointment (id, couple_id, starts_at, duration_minutes, status, "
    "created_at, updated_at, version) VALUES (1, 1, CURRENT_TIMESTAMP, 50, 'completed', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO counselor_check_in (id, couple_id, appointment_id, partner_label, "
    "instrument_id, instrument_version, answers, total) VALUES (1, 1, 1, 'A', 'csi4', 1, "
    "'{\"csi_1\": 4}', 13)",
    "INSERT INTO counselor_flag_status_record (id, appointment_id, flag_id, status, "
    "recorded_at) VALUES (1, 1, 1, 'improving', CURRENT_TIMESTAMP)",
)


def test_migration_0014_encrypts_existing_values_and_its_downgrade_restores_them(app, backend):
    def clear_values() -> list[Any]:
        queries = (
            "SELECT pronouns FROM counselor_partner",
            "SELECT severity || partners || decided_severity FROM counselor_flag",
            "SELECT total FROM counselor_check_in",
            "SELECT status FROM counselor_flag_status_record",
        )
        found = [db.session.execute(text(q)).scalar_one() for q in queries]
        db.session.rollback()
        return found

    with app.app_context():
        downgrade(revision="0012")
        # The columns 0007 encrypted hold a token already (of the empty text).
        empty = Fernet(DATA_KEY).encrypt(b"").decode()
        for statement in ROWS_AT_0012:
            db.session.execute(text(statement), {"empty": empty} if ":empty" in statement else {})
        db.session.commit()
        before = clear_values()
        assert before == ["xe/xem-old", "moderateABhigh", 13, "improving"]
        upgrade()
        flag = db.session.get(Flag, 1)
        assert (flag.severity.value, flag.partners, flag.decided_severity.value) == (
            "moderate",
            "AB",
            "high",
        )
        assert flag.evidence == [{"item_id": "fin_arguments"}]
        assert db.session.get(SafetyAlert, 1).positive_items == {"A": ["saf_fear"], "B": []}
        check_in = db.session.get(CheckIn, 1)
        assert (check_in.answers, check_in.total) == ({"csi_1": 4}, 13)
        assert db.session.get(Partner, 1).pronouns == "xe/xem-old"
        assert db.session.get(FlagStatusRecord, 1).status == FlagProgress.IMPROVING
        db.session.rollback()
        # On SQLite the whole file (free pages too); on PostgreSQL every live row.
        raw = raw_database_text(app, backend)
        assert "xe/xem-old" not in raw and leaks(raw) == []
        downgrade(revision="0012")
        assert clear_values() == before
        upgrade()
