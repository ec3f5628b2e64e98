"""Upgrades while the app runs: a worker never serves a database of another revision, the
maintenance flag pauses every worker while `flask counselor db upgrade` migrates, and a backup
is made before any revision that rewrites stored data.

A worker here is a test app; the upgrade is the CLI command run against the same database.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import inspect, select, text

from conftest import base_config, login
from counselor_app import backup, create_app, encryption, operations, schema
from counselor_app.extensions import db
from counselor_app.models import Couple
from counselor_app.schema import VERSION_TABLE
from host_support import PREFIX, clinician, host, host_client, host_template  # noqa: F401
from snapshot_support import changes, snapshot

CONCERNS = "Money worries since the second child."
# A therapist, a couple (its concerns encrypted, :token) and a check-in, as revision 0009 held
# them: before 0010 a check-in had no couple of its own.
ROWS_AT_0009 = (
    "INSERT INTO counselor_therapist (email, name, password_hash, is_admin, active, login_token, "
    "created_at) VALUES ('d@example.org', 'D', 'x', false, true, 'tok', CURRENT_TIMESTAMP)",
    "INSERT INTO counselor_couple (therapist_id, relationship_stage, presenting_concerns, status, "
    "created_at, updated_at, version) SELECT id, 'married', :token, 'active', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1 FROM counselor_therapist",
    "INSERT INTO counselor_appointment (couple_id, starts_at, duration_minutes, status, "
    "created_at, updated_at, version) SELECT id, CURRENT_TIMESTAMP, 50, 'completed', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1 FROM counselor_couple",
    "INSERT INTO counselor_check_in (appointment_id, partner_label, instrument_id, "
    "instrument_version, answers, total) SELECT id, 'A', 'csi4', 1, '{}', 12 "
    "FROM counselor_appointment",
)
# Settings of an upgrade that does not wait: every worker looks at each request.
AT_ONCE = {"COUNSELOR_SCHEMA_CHECK_SECONDS": 0, "COUNSELOR_UPGRADE_DRAIN_SECONDS": 0}


def look_each_time(app: Flask, **settings: float) -> None:
    """Every request looks at the database again (its last look forgotten)."""
    app.config.update(AT_ONCE, **settings)
    app.extensions.pop("counselor_operations", None)


def stamp(app: Flask, revision: str) -> None:
    """Record ``revision`` in our version table, as an upgrade under the worker would."""
    update = text(f"UPDATE {VERSION_TABLE} SET version_num = :r")  # noqa: S608
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(update, {"r": revision})


def run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(schema.db_cli, list(args))


def test_a_worker_keeps_the_revision_its_code_was_loaded_with(app, client, tmp_path, monkeypatch):
    """`pip install` of the next release puts its migrations on disk before the old workers are
    replaced. One that has not served a request yet must still answer for its own code: the
    database upgraded to the new head is ahead of it, not its own revision."""
    look_each_time(app)
    newer = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, newer, ignore=shutil.ignore_patterns("__pycache__"))
    (newer / "versions" / "0099_next_release.py").write_text(
        f"revision = '0099'\ndown_revision = {operations.BUILT_FOR!r}\n"
        "branch_labels = None\ndepends_on = None\n"
    )
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", newer)
    assert schema.heads() == ["0099"]  # what the folder on disk says now
    stamp(app, "0099")  # the next release's `db upgrade` ran
    assert client.get("/login").status_code == 503  # the first request this worker serves
    assert "schema: ahead" in client.get("/readyz").get_data(as_text=True)


def test_the_revisions_that_rewrite_data_are_marked():
    """A revision that rewrites stored rows says so (``rewrites_data = True``), so the upgrade
    backs up first: the encryption (0007), the table prefix (0008, a copy on SQLite), the
    check-ins given their couple (0010), note-only safety alerts made notices (0013), every
    clinical value encrypted (0014), the audit trail re-signed per chain (0015) and the tables
    rebuilt with AUTOINCREMENT on SQLite (0017)."""
    marked = {
        script.revision
        for script in schema._scripts().walk_revisions()
        if getattr(script.module, "rewrites_data", False)
    }
    assert marked == {"0007", "0008", "0010", "0013", "0014", "0015", "0017"}


@pytest.mark.parametrize("revision", ["0099", "0011"], ids=["newer", "older"])
def test_a_worker_on_a_database_of_another_revision_answers_503(
    app, logged_in, therapist, make_couple, revision
):
    """An upgrade ran under this worker (or has not run yet): it reads and writes nothing."""
    look_each_time(app)
    couple_id = make_couple(therapist, concerns=CONCERNS)
    token = logged_in.csrf_token()
    assert logged_in.get(f"/couples/{couple_id}").status_code == 200
    stamp(app, revision)
    before = snapshot(app)
    page = logged_in.get(f"/couples/{couple_id}")
    edit = logged_in.post(
        f"/couples/{couple_id}/edit",
        data={"csrf_token": token, "presenting_concerns": "typed during the upgrade"},
    )
    saved = logged_in.post(
        f"/couples/{couple_id}/edit",
        data={"csrf_token": token},
        headers={"Accept": "application/json"},
    )
    for response in (page, edit):
        body = response.get_data(as_text=True)
        assert response.status_code == 503
        assert "Upgrade in progress" in body
        assert "css/app.css" in body
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert CONCERNS not in body and "gAAAAA" not in body  # neither text nor ciphertext
    assert saved.status_code == 503 and saved.json["saved"] is False
    assert changes(before, snapshot(app)) == {}  # not even an audit row
    ready = logged_in.get("/readyz")
    assert ready.status_code == 503
    expected = "ahead" if revision == "0099" else "behind"
    assert f"schema: {expected}" in ready.get_data(as_text=True)
    assert logged_in.get("/healthz").status_code == 200
    stylesheet = logged_in.get("/counselor-static/css/app.css")
    stylesheet.close()
    assert stylesheet.status_code == 200  # so the 503 page keeps its style


def test_a_worker_trusts_its_last_look_for_the_configured_time(app, logged_in):
    """The look is cached per process: the upgrade waits longer than that before migrating."""
    look_each_time(app, COUNSELOR_SCHEMA_CHECK_SECONDS=3600)
    assert logged_in.get("/").status_code == 200
    stamp(app, "0099")
    assert logged_in.get("/").status_code == 200  # still trusting its last look
    look_each_time(app)  # as an hour later
    assert logged_in.get("/").status_code == 503
    with app.app_context():
        app.config.update(COUNSELOR_SCHEMA_CHECK_SECONDS=2, COUNSELOR_UPGRADE_DRAIN_SECONDS=30)
        assert operations.upgrade_wait() == 32


def test_the_maintenance_flag_pauses_every_page(app, logged_in, client, therapist, make_couple):
    look_each_time(app)
    couple_id = make_couple(therapist)
    assert run(app, "maintenance", "on").exit_code == 0
    for url in ("/", f"/couples/{couple_id}", f"/couples/{couple_id}/plans", "/library"):
        response = logged_in.get(url)
        assert response.status_code == 503, url
        assert "Upgrade in progress" in response.get_data(as_text=True)
    assert client.get("/login").status_code == 503  # signing in too
    # A partner's link: the partner's own plain page, naming no therapist page.
    partner = client.get("/answer/" + "x" * 43)
    assert partner.status_code == 503
    assert "Upgrade in progress" in partner.get_data(as_text=True)
    assert "/couples" not in partner.get_data(as_text=True)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "schema: maintenance" in ready.get_data(as_text=True)
    assert "raised" in run(app, "maintenance").output
    refused = run(app, "upgrade")  # nothing to upgrade, but the flag is another's
    assert refused.exit_code == 1 and "--force" in refused.output
    forced = run(app, "upgrade", "--force")
    assert forced.exit_code == 0 and "Maintenance flag lowered" in forced.output
    assert logged_in.get("/").status_code == 200
    assert run(app, "maintenance", "on").exit_code == 0
    assert run(app, "maintenance", "off").exit_code == 0
    assert logged_in.get("/").status_code == 200


@pytest.fixture
def pending_upgrade(app) -> Iterator[Flask]:
    """The worker's database one revision behind, as after deploying new code: revision 0011
    recorded (the flag's table is there: an upgrade of ours records the revision it reaches)."""
    look_each_time(app)
    stamp(app, "0011")
    yield app


def test_db_upgrade_raises_the_flag_waits_migrates_and_lowers_it(
    logged_in, pending_upgrade, monkeypatch
):
    app = pending_upgrade
    look_each_time(app, COUNSELOR_SCHEMA_CHECK_SECONDS=0.25)
    seen: dict[str, object] = {}

    def wait(seconds: float) -> None:
        seen["waited"] = seconds
        seen["flag while waiting"] = operations.raised_flag() is not None

    def migrate(revision: str = "head") -> None:
        # What every worker answers while the migration runs.
        seen["page while migrating"] = logged_in.get("/").status_code
        seen["flag while migrating"] = operations.raised_flag() is not None
        command.stamp(schema._config(), revision)  # the revision file 0012 would re-create a table

    monkeypatch.setattr(operations.time, "sleep", wait)
    monkeypatch.setattr(operations.schema, "upgrade", migrate)
    result = run(app, "upgrade", "--no-backup")
    assert result.exit_code == 0, result.output
    assert seen == {
        "waited": 0.25,  # longer than a worker trusts its last look
        "flag while waiting": True,
        "page while migrating": 503,
        "flag while migrating": True,
    }
    assert "Maintenance flag raised" in result.output
    assert "maintenance flag lowered" in result.output
    with app.app_context():
        assert operations.raised_flag() is None
        assert schema.current() == operations.BUILT_FOR
    app.extensions.pop("counselor_operations")  # a quarter of a second later
    assert logged_in.get("/").status_code == 200


def test_db_upgrade_refuses_while_another_holds_the_flag(pending_upgrade, monkeypatch):
    app = pending_upgrade
    monkeypatch.setattr(
        operations.schema,
        "upgrade",
        lambda revision="head": command.stamp(schema._config(), revision),
    )
    assert run(app, "maintenance", "on").exit_code == 0
    refused = run(app, "upgrade", "--no-backup")
    assert refused.exit_code == 1
    [line] = refused.output.strip().splitlines()
    assert "already raised" in line and "--force" in line
    with app.app_context():
        assert schema.current() == "0011"  # nothing ran
    forced = run(app, "upgrade", "--no-backup", "--force")
    assert forced.exit_code == 0, forced.output
    with app.app_context():
        assert operations.raised_flag() is None
        assert schema.current() == operations.BUILT_FOR


def test_a_failed_upgrade_leaves_the_flag_raised(pending_upgrade, monkeypatch):
    app = pending_upgrade

    def broken(revision: str = "head") -> None:
        raise RuntimeError("a migration failed")

    monkeypatch.setattr(operations.schema, "upgrade", broken)
    result = run(app, "upgrade", "--no-backup")
    assert result.exit_code != 0
    assert "stays raised" in result.output
    with app.app_context():
        assert operations.raised_flag() is not None


def app_on(url: str, instance: Path) -> Flask:
    return create_app(base_config(url, instance) | AT_ONCE, instance_path=str(instance))


def close(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_backup_is_made_before_a_revision_that_rewrites_data(empty_database, tmp_path):
    """At 0009 with a couple, upgrading crosses 0010 (check-ins given their couple): a backup
    of the database at 0009 is written first, and it restores into an empty database."""
    app = app_on(empty_database(), tmp_path / "instance")
    with app.app_context():
        schema.upgrade("0009")
        token = encryption.encrypt(CONCERNS.encode()).decode("ascii")
        for statement in ROWS_AT_0009:
            db.session.execute(text(statement), {"token": token})
        db.session.commit()
    result = run(app, "upgrade")
    assert result.exit_code == 0, result.output
    backups = list((tmp_path / "instance" / "backups").glob("pre-upgrade-0009-*.backup"))
    assert len(backups) == 1, result.output
    assert f"backup written to {backups[0]}" in result.output
    assert "0010" in result.output
    with app.app_context():
        assert schema.current() == operations.BUILT_FOR
    close(app)

    restored = app_on(empty_database(), tmp_path / "restored")
    with restored.app_context():
        backup.restore(backups[0])
        assert schema.current() == "0009"
        stored = db.session.execute(text("SELECT presenting_concerns FROM counselor_couple"))
        assert encryption.decrypt(stored.scalar_one().encode()).decode() == CONCERNS
        assert "couple_id" not in {
            column["name"] for column in inspect(db.engine).get_columns("counselor_check_in")
        }
        db.session.rollback()
    # Nothing more to back up past 0010 once there: --no-backup skips it outright anyway.
    again = run(restored, "upgrade", "--no-backup")
    assert again.exit_code == 0, again.output
    assert "No backup made" in again.output
    assert not (tmp_path / "restored" / "backups").exists()
    with restored.app_context():
        # 0010's rewrite: the check-in has its couple.
        assert db.session.scalar(text("SELECT couple_id FROM counselor_check_in")) is not None
        assert db.session.scalars(select(Couple.presenting_concerns)).one() == CONCERNS
    close(restored)


def test_upgrading_from_before_the_encryption_backs_up_once(empty_database, tmp_path, monkeypatch):
    app = app_on(empty_database(), tmp_path / "instance")
    with app.app_context():
        schema.upgrade("0006")
        assert operations.rewriting_revisions() == [
            "0007",
            "0008",
            "0010",
            "0013",
            "0014",
            "0015",
            "0017",
        ]
    made: list[Path] = []
    monkeypatch.setattr(backup, "backup", made.append)
    result = run(app, "upgrade")
    assert result.exit_code == 0, result.output
    assert [path.name.split("-")[:3] for path in made] == [["pre", "upgrade", "0006"]]
    assert "no maintenance flag yet" in result.output  # workers of before must be stopped
    close(app)


def test_a_failed_backup_upgrades_nothing(empty_database, tmp_path, monkeypatch):
    app = app_on(empty_database(), tmp_path / "instance")
    with app.app_context():
        schema.upgrade("0009")

    def fails(path: Path) -> None:
        raise backup.BackupError("pg_dump failed: disk full")

    monkeypatch.setattr(backup, "backup", fails)
    result = run(app, "upgrade")
    assert result.exit_code == 1
    assert "nothing was upgraded" in result.output
    with app.app_context():
        assert schema.current() == "0009"
    close(app)


def test_a_new_database_is_built_without_flag_or_backup(empty_database, tmp_path):
    app = app_on(empty_database(), tmp_path / "instance")
    result = run(app, "upgrade")
    assert result.exit_code == 0, result.output
    assert "created at revision" in result.output
    assert not (tmp_path / "instance" / "backups").exists()
    assert run(app, "upgrade").output.startswith("Our tables are at revision")
    close(app)


def test_signed_in_pages_work_after_the_upgrade_on_a_fresh_worker(
    pending_upgrade, client, therapist
):
    """The worker of the new release: 503 before the upgrade, its pages once it has run."""
    app = pending_upgrade
    assert login(client, therapist).status_code == 503
    with app.app_context():
        command.stamp(schema._config(), "head")
    assert login(client, therapist).status_code == 302


def test_mounted_our_pages_pause_and_the_hosts_do_not(host, host_client):
    """In a host app: our revision is in our own version table, and while the flag is up (or
    our tables are at another revision) only our pages answer 503; the host's own still work."""
    look_each_time(host)
    with host.app_context():
        tables = inspect(db.engine).get_table_names()
        assert VERSION_TABLE in tables and "alembic_version" in tables  # the host's own
        assert schema.current() == operations.BUILT_FOR
    assert host_client.get(f"{PREFIX}/").status_code == 200
    assert run(host, "maintenance", "on").exit_code == 0
    paused = host_client.get(f"{PREFIX}/")
    assert paused.status_code == 503
    assert "Upgrade in progress" in paused.get_data(as_text=True)
    assert host_client.get("/clients").status_code == 200
    assert host_client.get(f"{PREFIX}/readyz").status_code == 503
    assert run(host, "maintenance", "off").exit_code == 0
    stamp(host, "0099")
    assert host_client.get(f"{PREFIX}/").status_code == 503
    assert host_client.get("/clients").status_code == 200
