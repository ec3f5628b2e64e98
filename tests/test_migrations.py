"""The Alembic migrations build exactly the schema the models describe, both ways, and keep our
history apart from a host app's."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect, text

from conftest import base_config
from counselor_app import create_app, schema
from counselor_app.extensions import db
from counselor_app.models import Base
from counselor_app.schema import VERSION_TABLE, downgrade, upgrade

_numbers = itertools.count(1)


@pytest.fixture
def empty_database(backend, tmp_path, request) -> Iterator[Callable[[], str]]:
    """Make empty databases on the test's backend: ``url = empty_database()``."""
    made: list[str] = []

    def make() -> str:
        name = f"counselor_migrations_{next(_numbers)}"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite3"
        cluster = request.getfixturevalue("pg_cluster")
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return cluster.url(name)

    yield make
    if made:
        cluster = request.getfixturevalue("pg_cluster")
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            for name in made:
                conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


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
            },
        )
        return compare_metadata(context, Base.metadata)


def tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {VERSION_TABLE}


def test_upgrade_matches_models_and_round_trips(empty_app):
    with empty_app.app_context():
        upgrade()
        assert tables() == set(Base.metadata.tables)
        assert schema_differences() == []
        downgrade("base")
        db.engine.dispose()
        assert tables() == set()
        upgrade()
        assert schema_differences() == []


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
        assert "couple" in tables()


def test_a_host_revision_in_the_shared_table_is_left_alone(empty_app):
    make_database_of_before(empty_app, "a1b2c3host")
    with empty_app.app_context():
        upgrade()
        assert schema.current() == schema.heads()[0]
        assert shared_versions() == ["a1b2c3host"]


def test_a_host_history_alone_is_not_taken_for_ours(empty_app):
    with empty_app.app_context():
        with db.engine.begin() as connection:
            connection.execute(
                text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            )
            connection.execute(text("INSERT INTO alembic_version VALUES ('a1b2c3host')"))
        assert schema.current() is None
        upgrade()
        assert schema.current() == schema.heads()[0]
        assert shared_versions() == ["a1b2c3host"]
        assert tables() == set(Base.metadata.tables) | {"alembic_version"}


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
