"""`flask backup` writes a consistent copy while the app runs; `flask restore` brings it back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy import delete

from conftest import base_config
from counselor_app import backup, create_app
from counselor_app.extensions import db
from counselor_app.models import Couple, NoteAddendum, RelationshipStage
from counselor_app.schema import VERSION_TABLE
from marker_support import STORED_IN_CLEAR, fill_every_free_text
from snapshot_support import changes, snapshot


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["counselor", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_backup_and_restore_bring_back_every_row_of_every_table(app, logged_in, tmp_path):
    filled = fill_every_free_text(app, logged_in)
    couple_id, plan_id = filled["couple_id"], filled["plan_id"]
    issued = logged_in.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/handout")
    assert issued.status_code == 302
    before = snapshot(app)
    assert all(
        before[table]
        for table in (
            "counselor_couple",
            "counselor_response",
            "counselor_session_note",
            "counselor_issued_document",
        )
    )
    backup_file = tmp_path / "backups" / "practice.backup"

    output = run(app, "backup", str(backup_file))
    assert "keep instance/data_keys safe" in output
    assert backup_file.stat().st_mode & 0o777 == 0o600

    # Lose some work, and add some that the backup does not know about.
    with app.app_context():
        db.session.execute(delete(NoteAddendum))
        db.session.get(Couple, couple_id).presenting_concerns = "Overwritten by mistake"
        db.session.commit()
    logged_in.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/plan")
    assert changes(before, snapshot(app))  # the damage is real

    run(app, "restore", "--yes", str(backup_file))
    restored = snapshot(app)
    # Exactly as backed up, and the restore itself recorded after the restored trail.
    assert changes(before, restored, append_only={"counselor_audit_event"}) == {}
    [event] = restored["counselor_audit_event"][len(before["counselor_audit_event"]) :]
    assert "restore" in event and "flask counselor restore" in event
    page = logged_in.get(f"/couples/{couple_id}").get_data(as_text=True)
    assert filled["markers"]["presenting_concerns"] in page


def test_a_backup_holds_no_clinical_text_in_clear(app, logged_in, tmp_path):
    markers = fill_every_free_text(app, logged_in)["markers"]
    backup_file = tmp_path / "practice.backup"
    run(app, "backup", str(backup_file))
    raw = backup_file.read_bytes().decode("latin-1")
    assert markers["partner_a_name"] in raw  # the search works on this file
    found = [name for name, value in markers.items() if value in raw]
    assert sorted(set(found) - STORED_IN_CLEAR) == []


def test_a_backup_taken_during_a_write_is_consistent(app, logged_in, therapist, tmp_path):
    backup_file = tmp_path / "practice.backup"
    with app.app_context():
        # Another request's transaction, not yet committed while the backup runs.
        db.session.add(
            Couple(therapist_id=therapist.id, relationship_stage=RelationshipStage.DATING)
        )
        db.session.flush()
        run(app, "backup", str(backup_file))
        db.session.commit()
    assert len(snapshot(app)["counselor_couple"]) == 1
    run(app, "restore", "--yes", str(backup_file))
    assert snapshot(app)["counselor_couple"] == []  # the backup has the state before the write


def test_restore_asks_before_replacing_everything(app, tmp_path):
    backup_file = tmp_path / "practice.backup"
    run(app, "backup", str(backup_file))
    result = app.test_cli_runner().invoke(
        args=["counselor", "restore", str(backup_file)], input="n\n"
    )
    assert result.exit_code != 0
    assert "Replace everything" in result.output


def live_state(app):
    """What a restore must leave alone when it fails: the SQLite file's very bytes, or every
    row of every table of ours on PostgreSQL."""
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "sqlite":
        return hashlib.sha256(Path(url.database).read_bytes()).hexdigest()
    return snapshot(app)


def refused(app, backup_file, says):
    """Restore ``backup_file``: refused in one line that says why (``says``) and that nothing
    was restored."""
    result = app.test_cli_runner().invoke(args=["counselor", "restore", "--yes", str(backup_file)])
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert says in line and line.endswith("Nothing was restored: the database is as it was."), line
    return line


def test_a_backup_the_keys_do_not_open_leaves_the_live_data_as_it_was(
    app, therapist, make_couple, tmp_path
):
    # Made while the database holds nothing encrypted: on data its keys do not open, the app
    # would refuse to start (test_operations.py).
    settings = base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    settings["COUNSELOR_DATA_KEYS"] = [Fernet.generate_key().decode()]
    other_keys = create_app(settings, instance_path=str(tmp_path / "other"))
    make_couple(therapist)
    backup_file = tmp_path / "practice.backup"
    run(app, "backup", str(backup_file))
    with app.app_context():
        db.session.add(
            Couple(therapist_id=therapist.id, relationship_stage=RelationshipStage.DATING)
        )
        db.session.commit()
    before = live_state(app)
    line = refused(other_keys, backup_file, "The data keys in use do not open this backup")
    assert "put back the data_keys file" in line
    assert live_state(app) == before
    with other_keys.app_context():
        db.engine.dispose()


def test_a_restore_that_cannot_finish_changes_nothing(
    app, backend, therapist, tmp_path, monkeypatch
):
    """A backup from a later release or a damaged file is refused before anything is touched;
    a swap that fails leaves the live data too. With the obstacle gone, the backup restores."""
    good, newer, damaged = (tmp_path / f"{name}.backup" for name in ("good", "newer", "damaged"))
    run(app, "backup", str(good))
    damaged.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    version = sa.table(VERSION_TABLE, sa.column("version_num"))
    with app.app_context():
        head = db.session.scalar(sa.select(version.c.version_num))
        db.session.execute(sa.update(version).values(version_num="9999"))  # a later release
        db.session.commit()
        run(app, "backup", str(newer))
        db.session.execute(sa.update(version).values(version_num=head))
        db.session.add(
            Couple(therapist_id=therapist.id, relationship_stage=RelationshipStage.DATING)
        )
        db.session.commit()
    before = live_state(app)

    refused(app, newer, "The backup was made at revision 9999 of the couples-therapy tables")
    refused(app, damaged, "is not a readable")
    assert live_state(app) == before

    # The swap itself fails: the rename (SQLite), or the transaction that replaces our tables
    # (PostgreSQL: a view of another's on one of them stops the drop).
    if backend == "sqlite":

        def no_room(*args):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(backup.os, "replace", no_room)
        refused(app, good, "could not be put in place")
    else:
        with app.app_context():
            db.session.execute(sa.text("CREATE VIEW pinned AS SELECT id FROM counselor_couple"))
            db.session.commit()
        refused(app, good, "psql failed")
    assert live_state(app) == before
    assert [p.name for p in tmp_path.rglob("*.restoring")] == []  # no scratch copy left

    monkeypatch.undo()
    if backend == "postgresql":
        with app.app_context():
            db.session.execute(sa.text("DROP VIEW pinned"))
            db.session.commit()
    # A table of a newer revision that holds on to ours (going back to a backup from before an
    # upgrade, with the package that made it): replaced all the same, in place.
    newer = "CREATE TABLE counselor_newer (couple_id integer REFERENCES counselor_couple (id))"
    with app.app_context():
        db.session.execute(sa.text(newer))
        db.session.commit()
    run(app, "restore", "--yes", str(good))
    assert snapshot(app)["counselor_couple"] == []  # as backed up: before the couple was added
    with app.app_context():
        assert "counselor_newer" not in sa.inspect(db.engine).get_table_names()
