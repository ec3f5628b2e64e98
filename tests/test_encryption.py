"""Clinical free text is stored only as authenticated ciphertext, under keys kept in instance/."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import inspect, select, text

from conftest import DATA_KEY, base_config
from counselor_app import create_app
from counselor_app.encryption import UNREADABLE_TEXT, encrypted_columns
from counselor_app.extensions import db
from counselor_app.models import AuditEvent, Base, Couple, Response, ResponseChange, SessionNote
from counselor_app.schema import downgrade, upgrade
from marker_support import STORED_IN_CLEAR, fill_every_free_text


def raw_database_text(app, backend: str) -> str:
    """Everything the database holds, as an intruder with the files (not the key) would see it."""
    with app.app_context():
        if backend == "sqlite":
            db.engine.dispose()  # every page is on disk, nothing held back in a connection
            path = Path(db.engine.url.database)
            files = [path, *path.parent.glob(path.name + "-*")]  # any -wal / -journal too
            return "".join(f.read_bytes().decode("latin-1") for f in files)
        rows = []
        for table in inspect(db.engine).get_table_names():
            query = text(f'SELECT t::text FROM "{table}" t')  # noqa: S608 (names from the schema)
            rows += db.session.execute(query).scalars().all()
        return "\n".join(rows)


def test_free_text_is_never_stored_in_clear(app, logged_in, backend):
    filled = fill_every_free_text(app, logged_in)
    markers = filled["markers"]
    raw = raw_database_text(app, backend)
    in_clear = sorted(
        name for name, value in markers.items() if value in raw and name not in STORED_IN_CLEAR
    )
    assert in_clear == []
    # The search is real: the names, which are kept in clear, are found.
    assert markers["partner_a_name"] in raw
    # And the app itself reads every value back.
    couple_page = logged_in.get(f"/couples/{filled['couple_id']}").get_data(as_text=True)
    assert markers["presenting_concerns"] in couple_page
    appointment_url = f"/couples/{filled['couple_id']}/appointments/{filled['appointment_id']}"
    page = logged_in.get(appointment_url).get_data(as_text=True)
    assert markers["note_data"] in page and markers["private_note"] in page


def stored_token(app, table: str, column: str, row_id: int) -> str:
    with app.app_context():
        query = text(f"SELECT {column} FROM {table} WHERE id = :id")  # noqa: S608 (test constants)
        return db.session.execute(query, {"id": row_id}).scalar_one()


def store_token(app, table: str, column: str, row_id: int, token: str) -> None:
    with app.app_context():
        query = text(f"UPDATE {table} SET {column} = :token WHERE id = :id")  # noqa: S608
        db.session.execute(query, {"id": row_id, "token": token})
        db.session.commit()


@pytest.mark.parametrize("tampering", ["flipped", "other_key"])
def test_tampered_ciphertext_reads_as_unreadable_not_shown(
    app, logged_in, therapist, make_couple, tampering
):
    couple_id = make_couple(therapist, concerns="Tamper check: the garden argument.")
    token = stored_token(app, "counselor_couple", "presenting_concerns", couple_id)
    if tampering == "flipped":
        # A changed character in the body: the HMAC over the token no longer matches.
        middle = len(token) // 2
        tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    else:
        tampered = Fernet(Fernet.generate_key()).encrypt(b"Planted text").decode()
    store_token(app, "counselor_couple", "presenting_concerns", couple_id, tampered)

    response = logged_in.get(f"/couples/{couple_id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert UNREADABLE_TEXT in page and "Alex" in page  # marked, and the rest of the record
    assert "garden argument" not in page and "Planted text" not in page
    # Nothing was rewritten on the way: the altered token is still there for investigation.
    assert stored_token(app, "counselor_couple", "presenting_concerns", couple_id) == tampered


def keyfile_app(app, tmp_path: Path):
    """The same database, with its key in instance/data_keys instead of the DATA_KEYS setting."""
    instance = tmp_path / "keyfile-instance"
    instance.mkdir()
    (instance / "data_keys").write_text(DATA_KEY + "\n")
    settings = base_config(app.config["SQLALCHEMY_DATABASE_URI"], instance)
    del settings["COUNSELOR_DATA_KEYS"]
    return create_app(settings, instance_path=str(instance)), instance / "data_keys"


@pytest.mark.parametrize("retire", [False, True])
def test_key_rotation_reencrypts_every_value_under_a_new_key(app, logged_in, tmp_path, retire):
    filled = fill_every_free_text(app, logged_in)
    before = stored_token(app, "counselor_couple", "presenting_concerns", filled["couple_id"])
    rotating, key_file = keyfile_app(app, tmp_path)

    arguments = ["data-keys", "rotate", *(["--retire-old"] if retire else [])]
    result = rotating.test_cli_runner().invoke(args=["counselor", *arguments])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted" in result.output

    keys = key_file.read_text().split()
    # The old key is kept after the new one (to read earlier backups) unless retired.
    assert keys[1:] == ([] if retire else [DATA_KEY]) and keys[0] != DATA_KEY
    assert key_file.stat().st_mode & 0o777 == 0o600
    after = stored_token(rotating, "counselor_couple", "presenting_concerns", filled["couple_id"])
    assert after != before
    with pytest.raises(InvalidToken):
        Fernet(DATA_KEY).decrypt(after)  # nothing in the database is under the old key
    expected = filled["markers"]["presenting_concerns"].encode()
    assert Fernet(keys[0]).decrypt(after) == expected
    old_key, new_key = Fernet(DATA_KEY), Fernet(keys[0])
    with rotating.app_context():
        rotated = set()
        for column in encrypted_columns(Base.metadata):
            name, table = column.name, column.table.name
            query = text(f"SELECT {name} FROM {table} WHERE {name} IS NOT NULL")  # noqa: S608
            for token in db.session.execute(query).scalars():
                token = bytes(token) if isinstance(token, bytes | memoryview) else token.encode()
                new_key.decrypt(token)
                with pytest.raises(InvalidToken):
                    old_key.decrypt(token)
                rotated.add(f"{column.table.name}.{column.name}")
        # Answers, scores, safety items and pronouns too, not only the free text.
        assert {
            "counselor_partner.pronouns",
            "counselor_flag.evidence",
            "counselor_flag.severity",
            "counselor_safety_alert.positive_items",
            "counselor_check_in.answers",
            "counselor_check_in.total",
        } <= rotated
        assert db.session.get(Couple, filled["couple_id"]).presenting_concerns == expected.decode()
        note = db.session.query(SessionNote).one()
        assert note.data == filled["markers"]["note_data"]
        # The operator's command is in the audit trail, after the requests before it.
        last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (last.action, last.endpoint) == ("keys_rotate", "flask counselor data-keys rotate")
        assert last.therapist_id is None and last.address == "operator (command line)"
        db.session.remove()
        db.engine.dispose()


def test_rotation_refuses_keys_given_in_settings(app):
    result = app.test_cli_runner().invoke(args=["counselor", "data-keys", "rotate"])
    assert result.exit_code != 0
    assert "DATA_KEYS setting" in result.output


def test_a_new_instance_gets_its_own_private_key(app, tmp_path):
    instance = tmp_path / "fresh-instance"
    settings = base_config(app.config["SQLALCHEMY_DATABASE_URI"], instance)
    del settings["COUNSELOR_DATA_KEYS"]
    fresh = create_app(settings, instance_path=str(instance))
    key_file = instance / "data_keys"
    assert key_file.stat().st_mode & 0o777 == 0o600
    [key] = key_file.read_text().split()
    assert key != DATA_KEY
    Fernet(key)  # a valid key
    # Starting again keeps the same key rather than making another.
    again = create_app(settings, instance_path=str(instance))
    assert key_file.read_text().split() == [key]
    for started in (fresh, again):
        with started.app_context():
            db.engine.dispose()


OLD_ROWS = (
    "INSERT INTO therapist (id, email, name, password_hash, is_admin, active, login_token, "
    "created_at) VALUES (1, 'm@example.org', 'M', 'x', false, true, 'tok', CURRENT_TIMESTAMP)",
    "INSERT INTO couple (id, therapist_id, relationship_stage, presenting_concerns, status, "
    "created_at, updated_at, version) VALUES (1, 1, 'married', 'Old plaintext concerns', "
    "'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO partner (id, couple_id, label, display_name, pronouns) "
    "VALUES (1, 1, 'A', 'Avery', '')",
    "INSERT INTO response (id, couple_id, partner_id, instrument_id, instrument_version, status, "
    "answers, started_at, updated_at, version) VALUES (1, 1, 1, 'intake', 1, 'draft', "
    "'{\"ind_goals\": 4}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO response_change (id, response_id, item_id, old_value, new_value, "
    "changed_by_id, changed_at) VALUES (1, 1, 'ind_goals', '2', '4', 1, CURRENT_TIMESTAMP)",
)


def test_migration_encrypts_existing_rows_and_downgrade_restores_them(app):
    def rows(table: str) -> int:
        return db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608

    with app.app_context():
        downgrade(revision="0006")
        for statement in OLD_ROWS:
            db.session.execute(text(statement))
        db.session.commit()
        upgrade()
        raw = db.session.execute(
            text("SELECT presenting_concerns FROM counselor_couple")
        ).scalar_one()
        assert "Old plaintext" not in raw
        assert db.session.get(Couple, 1).presenting_concerns == "Old plaintext concerns"
        # The tables rebuilt to change a column's type keep their children (SQLite's batch
        # mode copies and drops a table: with foreign keys on, that would delete them).
        assert rows("counselor_response_change") == 1
        assert db.session.get(Response, 1).answers == {"ind_goals": 4}
        change = db.session.get(ResponseChange, 1)
        assert (change.old_value, change.new_value) == (2, 4)
        db.session.rollback()
        downgrade(revision="0006")
        raw = db.session.execute(text("SELECT presenting_concerns FROM couple")).scalar_one()
        assert raw == "Old plaintext concerns"
        assert rows("response_change") == 1
        db.session.rollback()
        upgrade()
