"""The Alembic migrations build exactly the schema the models describe, both ways, keep the rows
they move, and keep our history apart from a host app's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from conftest import base_config
from counselor_app import create_app, schema
from counselor_app.extensions import db
from counselor_app.models import Base, Couple, Therapist
from counselor_app.schema import VERSION_TABLE, downgrade, upgrade


@pytest.fixture
def empty_app(empty_database, tmp_path) -> Iterator[Flask]:
    app = create_app(base_config(empty_database(), tmp_path))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def schema_differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "version_table": VERSION_TABLE,
                # As our env.py compares: our tables only (a host's may share the database).
                "include_object": schema.only_ours,
            },
        )
        return compare_metadata(context, Base.metadata)


def tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {VERSION_TABLE}


@pytest.mark.parametrize("build", [schema.replay, upgrade], ids=["history", "from-scratch"])
def test_upgrade_matches_models_and_round_trips(empty_app, build):
    with empty_app.app_context():
        build()
        assert schema.current() == schema.heads()[0]
        assert tables() == set(Base.metadata.tables)
        assert all(name.startswith("counselor_") for name in tables())
        assert schema_differences() == []
        downgrade("base")
        db.engine.dispose()
        assert tables() == set()
        build()
        assert schema_differences() == []


def test_a_fresh_host_database_with_an_appointment_table_of_its_own(empty_app):
    """Mounted on a host's database that already has a table named `appointment` (the name
    ours had before revision 0008): our tables come in beside it, the host's is untouched."""
    with empty_app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE appointment (id INTEGER PRIMARY KEY, note TEXT)"))
            connection.execute(text("INSERT INTO appointment VALUES (1, 'the host''s')"))
        upgrade()
        assert schema.current() == schema.heads()[0]
        assert tables() == set(Base.metadata.tables) | {"appointment"}
        assert schema_differences() == []
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT note FROM appointment")).all() == [
                ("the host's",)
            ]


def named_objects(engine: Engine) -> set[tuple]:
    """Every table, constraint, index and sequence by name, with what it is made of: what a
    later migration (or a host's DBA) finds in the database."""
    inspector = inspect(engine)
    found: set[tuple] = set()
    for table in set(inspector.get_table_names()) - {VERSION_TABLE}:
        found.add(("pk", table, inspector.get_pk_constraint(table)["name"]))
        for fk in inspector.get_foreign_keys(table):
            columns = tuple(fk["constrained_columns"])
            ondelete = fk["options"].get("ondelete")
            found.add(("fk", table, fk["name"], columns, fk["referred_table"], ondelete))
        for unique in inspector.get_unique_constraints(table):
            found.add(("uq", table, unique["name"], tuple(unique["column_names"])))
        for check in inspector.get_check_constraints(table):
            found.add(("ck", table, check["name"], check["sqltext"]))
        for index in inspector.get_indexes(table):
            found.add(("ix", table, index["name"], tuple(index["column_names"])))
    if engine.dialect.name == "postgresql":
        found |= {("sequence", name) for name in inspector.get_sequence_names()}
    return found


def test_migrated_database_names_everything_as_a_new_one_would(empty_app, empty_database):
    """compare_metadata does not look at primary key, foreign key or check constraint names,
    nor at sequences: the renamed database must hold the very names the models give."""
    fresh = create_engine(empty_database())
    Base.metadata.create_all(fresh)
    expected = named_objects(fresh)
    fresh.dispose()
    assert {entry[0] for entry in expected} >= {"pk", "fk", "uq", "ck", "ix"}
    with empty_app.app_context():
        schema.replay()
        assert named_objects(db.engine) == expected


# Rows as the app at revision 0007 stored them, a child of each kind of parent included.
ROWS_AT_0007 = (
    "INSERT INTO therapist (email, name, password_hash, is_admin, active, login_token, "
    "created_at) VALUES ('m@example.org', 'M', 'x', false, true, 'tok', CURRENT_TIMESTAMP)",
    "INSERT INTO couple (therapist_id, relationship_stage, presenting_concerns, status, "
    "created_at, updated_at, version) SELECT id, 'married', 'token-c', 'active', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1 FROM therapist",
    "INSERT INTO partner (couple_id, label, display_name, pronouns) "
    "SELECT id, 'A', 'Avery', '' FROM couple",
    "INSERT INTO partner (couple_id, label, display_name, pronouns) "
    "SELECT id, 'B', 'Blake', '' FROM couple",
    "INSERT INTO response (couple_id, partner_id, instrument_id, instrument_version, status, "
    "answers, started_at, updated_at, version) SELECT couple_id, id, 'intake', 1, 'draft', "
    "'token-r', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1 FROM partner WHERE label = 'A'",
    "INSERT INTO response_change (response_id, item_id, old_value, new_value, changed_by_id, "
    "changed_at) SELECT id, 'ind_goals', 'token-o', 'token-n', "
    "(SELECT id FROM therapist), CURRENT_TIMESTAMP FROM response",
    "INSERT INTO appointment (couple_id, starts_at, duration_minutes, status, created_at, "
    "updated_at, version) SELECT id, CURRENT_TIMESTAMP, 50, 'scheduled', CURRENT_TIMESTAMP, "
    "CURRENT_TIMESTAMP, 1 FROM couple",
    "INSERT INTO check_in (appointment_id, partner_label, instrument_id, instrument_version, "
    "answers, total) SELECT id, 'A', 'csi4', 1, '{}', 12 FROM appointment",
)
# (table, what is read back): the same rows before the rename and after it.
READ_BACK = (
    ("therapist", "email"),
    ("couple", "presenting_concerns"),
    ("partner", "display_name"),
    ("response", "answers"),
    ("response_change", "new_value"),
    ("appointment", "duration_minutes"),
    ("check_in", "total"),
)


def read_back(prefix: str) -> dict[str, list]:
    """The rows READ_BACK names; the transaction is ended, or on PostgreSQL its locks would
    keep a migration's ALTER TABLE waiting."""
    rows = {
        table: db.session.execute(
            text(f"SELECT id, {column} FROM {prefix}{table} ORDER BY id")  # noqa: S608
        ).all()
        for table, column in READ_BACK
    }
    db.session.rollback()
    return rows


def test_rows_survive_the_rename_and_its_downgrade(empty_app):
    with empty_app.app_context():
        upgrade("0007")
        for statement in ROWS_AT_0007:
            db.session.execute(text(statement))
        db.session.commit()
        before = read_back("")
        assert all(before.values())
        upgrade("0008")
        assert read_back("counselor_") == before
        downgrade("0007")
        assert read_back("") == before
        assert not [name for name in tables() if "counselor_" in name]

        upgrade("0012")  # before 0014 encrypts the check-in total read back here
        assert read_back("counselor_") == before
        # New rows still get ids (PostgreSQL: the renamed sequences), beside the old ones.
        therapist_id = db.session.scalars(select(Therapist.id)).one()
        couple = Couple(therapist_id=therapist_id, relationship_stage="dating")
        db.session.add(couple)
        db.session.commit()
        assert couple.id not in {row.id for row in before["couple"]}
        # The foreign keys follow the renamed tables: deleting a couple cascades to its rows.
        [(old_couple, _)] = before["couple"]
        db.session.execute(text("DELETE FROM counselor_couple WHERE id = :id"), {"id": old_couple})
        db.session.commit()
        after = read_back("counselor_")
        assert after["therapist"] == before["therapist"]
        assert [after[table] for table in ("partner", "response_change", "check_in")] == [[]] * 3


def test_external_ids_are_unique_where_set(app, make_therapist):
    """A host's id finds one therapist, and one couple per therapist; absent, none collide."""
    first, second = make_therapist(), make_therapist()
    with app.app_context():

        def add(therapist_id: int, external_id: str | None) -> None:
            db.session.add(
                Couple(
                    therapist_id=therapist_id, relationship_stage="dating", external_id=external_id
                )
            )
            db.session.commit()

        for _ in range(2):
            add(first.id, None)
        add(first.id, "client-7")
        add(second.id, "client-7")  # another therapist's couple may carry the same host id
        with pytest.raises(IntegrityError):
            add(first.id, "client-7")
        db.session.rollback()

        db.session.get(Therapist, first.id).external_id = "host-user-1"
        db.session.commit()
        db.session.get(Therapist, second.id).external_id = "host-user-1"
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(Therapist, second.id).external_id is None  # NULL, like the first

        indexed = {ix["name"] for ix in inspect(db.engine).get_indexes("counselor_partner")}
        assert "ix_counselor_partner_external_id" in indexed


def make_database_of_before(app: Flask, *host_revisions: str) -> None:
    """A database as the package left it before it had a version table of its own: at 0007,
    our revision in the shared ``alembic_version``, beside any of a host's."""
    with app.app_context():
        upgrade("0007")
        with db.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
            connection.execute(
                text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            )
            for revision in ("0007", *host_revisions):
                connection.execute(
                    text("INSERT INTO alembic_version VALUES (:revision)"), {"revision": revision}
                )


def shared_versions() -> list[str] | None:
    if "alembic_version" not in inspect(db.engine).get_table_names():
        return None
    return sorted(db.session.scalars(text("SELECT version_num FROM alembic_version")))


def test_a_database_from_before_moves_our_revision_to_our_version_table(empty_app):
    make_database_of_before(empty_app)
    with empty_app.app_context():
        assert schema.current() == "0007"  # read where it was, before anything moves
        upgrade()
        assert schema.current() == schema.heads()[0]
        assert shared_versions() is None  # emptied, so dropped
        assert "counselor_couple" in tables()


def test_a_host_revision_in_the_shared_table_is_left_alone(empty_app):
    make_database_of_before(empty_app, "a1b2c3host")
    with empty_app.app_context():
        upgrade()
        assert schema.current() == schema.heads()[0]
        assert shared_versions() == ["a1b2c3host"]


# A host's history may number its revisions as ours are numbered (the reference host's is 0001).
@pytest.mark.parametrize("host_revision", ["a1b2c3host", "0001", "0007"])
def test_a_host_history_alone_is_not_taken_for_ours(empty_app, host_revision):
    with empty_app.app_context():
        with db.engine.begin() as connection:
            connection.execute(
                text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            )
            connection.execute(
                text("INSERT INTO alembic_version VALUES (:number)"), {"number": host_revision}
            )
        assert schema.current() is None
        upgrade()
        assert schema.current() == schema.heads()[0]
        assert shared_versions() == [host_revision]
        assert tables() == set(Base.metadata.tables) | {"alembic_version"}


HOST_METADATA = MetaData()
Table(
    "client",
    HOST_METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(80)),
)


def host_differences(**options) -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        return compare_metadata(context, HOST_METADATA)


def test_include_object_keeps_our_tables_out_of_a_host_migration(app):
    with app.app_context():
        without = host_differences()
        dropped = {diff[1].name for diff in without if diff[0] == "remove_table"}
        assert dropped == set(Base.metadata.tables) | {VERSION_TABLE}
        with_hook = host_differences(include_object=schema.include_object)
        assert [(diff[0], diff[1].name) for diff in with_hook] == [("add_table", "client")]


def test_autogenerate_sees_only_our_tables(app):
    """A new revision compares our models with our tables only: a host table in the same
    database is no difference, so at head there is nothing to write."""
    versions = Path(schema.MIGRATIONS_DIR, "versions")
    existing = set(versions.glob("*.py"))
    with app.app_context():
        HOST_METADATA.create_all(db.engine)
        try:
            schema.new_revision("nothing to change")
        finally:
            written = set(versions.glob("*.py")) - existing
            for stray in written:
                stray.unlink()  # never left in the source tree, even when the test fails
        assert written == set()


def test_db_commands(empty_app):
    runner = empty_app.test_cli_runner()

    def run(*args: str) -> str:
        result = runner.invoke(schema.db_cli, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    assert "none" in run("current")
    run("upgrade", "0002")
    assert run("current").strip() == "0002"
    history = run("history").splitlines()
    assert history[0].startswith(schema.heads()[0])
    assert [line for line in history if line.endswith("(current)")] == [
        "0002  intake responses, flags and safety alerts  (current)"
    ]
    run("upgrade")
    assert run("current").strip() == schema.heads()[0]
    run("downgrade", "base")
    assert "none" in run("current")
    with empty_app.app_context():
        assert tables() == set()


def test_ids_are_never_reused_after_0017_and_its_downgrade_keeps_the_rows(empty_app):
    """0017 rebuilds SQLite's tables with AUTOINCREMENT, starting each past the ids the audit
    trail names for it (a couple erased before the upgrade); PostgreSQL's sequences already
    never go back. Down and up again, the rows stay as they were."""
    erased_couple = 40
    with empty_app.app_context():
        upgrade("0007")
        for statement in ROWS_AT_0007:
            db.session.execute(text(statement))
        db.session.commit()
        upgrade("0012")
        db.session.execute(
            text(
                "INSERT INTO counselor_audit_event (at, therapist_id, action, object_type, "
                "object_id, couple_id, endpoint, address, prev_hash, hash) VALUES "
                "(CURRENT_TIMESTAMP, 1, 'delete', 'couple', :id, :id, 'couple.erase', '', "
                "'', '')"
            ),
            {"id": erased_couple},
        )
        db.session.commit()
        # The rows as the revision before 0017 leaves them (later revisions encrypt some).
        just_before = schema._scripts().get_revision("0017").down_revision
        upgrade(just_before)
        before = read_back("counselor_")
        upgrade("0017")
        assert read_back("counselor_") == before
        downgrade(just_before)
        assert read_back("counselor_") == before
        upgrade("0017")
        assert read_back("counselor_") == before
        upgrade()
        assert schema_differences() == []
        if db.engine.dialect.name == "sqlite":
            definitions = db.session.scalars(
                text(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name LIKE 'counselor_%'"
                )
            ).all()
            assert (
                sum("AUTOINCREMENT" in sql for sql in definitions) == len(Base.metadata.tables) - 1
            )
        else:
            # Every id takes its value from a sequence, which never goes back.
            assert all(
                db.session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
                for table in Base.metadata.tables
                if "id" in Base.metadata.tables[table].c
            )
        db.session.rollback()

        therapist_id = db.session.scalars(select(Therapist.id)).one()
        [(old_couple, _)] = before["couple"]
        db.session.execute(text("DELETE FROM counselor_couple WHERE id = :id"), {"id": old_couple})
        couple = Couple(therapist_id=therapist_id, relationship_stage="dating")
        db.session.add(couple)
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            assert couple.id > erased_couple  # past the trail's erased couple, not max(id) + 1
        assert couple.id != old_couple
