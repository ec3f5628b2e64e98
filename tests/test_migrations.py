"""The Alembic migrations build exactly the schema the models describe, both ways."""

from __future__ import annotations

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from conftest import base_config
from counselor_app import create_app
from counselor_app.extensions import db


@pytest.fixture
def empty_app(backend, tmp_path, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        yield create_app(base_config(url, tmp_path))
        return
    cluster = request.getfixturevalue("pg_cluster")
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE counselor_migrations")
    app = create_app(base_config(cluster.url("counselor_migrations"), tmp_path))
    yield app
    with app.app_context():
        db.engine.dispose()
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("DROP DATABASE counselor_migrations WITH (FORCE)")


def schema_differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, db.metadata)


def tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_matches_models_and_round_trips(empty_app):
    with empty_app.app_context():
        upgrade()
        assert tables() == set(db.metadata.tables)
        assert schema_differences() == []
        downgrade(revision="base")
        db.engine.dispose()
        assert tables() == set()
        upgrade()
        assert schema_differences() == []
