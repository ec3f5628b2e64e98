"""Fixtures: an app per test on its own database (SQLite and PostgreSQL), clients, accounts."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

import pgcluster
from counselor_app import create_app
from counselor_app.auth.services import create_therapist
from counselor_app.couples.services import CoupleDetails, PartnerDetails, create_couple
from counselor_app.extensions import db
from counselor_app.models import RelationshipStage, Therapist
from counselor_app.schema import upgrade

BACKENDS = ("sqlite", "postgresql")
PASSWORD = "a calm harbour at dawn"
# A fixed key, so the template database and every per-test copy read each other's ciphertext.
DATA_KEY = "Q291bnNlbG9yQXBwVGVzdEtleU5vdEZvclByb2R1Y3Q="
# The audit chain's key, fixed likewise: no test writes an audit_keys file into the checkout.
AUDIT_KEY = "a0d17c4e" * 8
# scrypt at a small cost: the suite signs in thousands of times, and scrypt's full cost (about
# 0.1 s a hash or check here) is what production keeps (tests/test_auth.py checks the default).
FAST_PASSWORD_HASH = "scrypt:1024:8:1"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=",".join(BACKENDS),
        help="Comma-separated database backends to run the suite on (sqlite, postgresql).",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [name for name in metafunc.config.getoption("--db").split(",") if name]
        if metafunc.definition.get_closest_marker("sqlite_only"):
            chosen = [name for name in chosen if name == "sqlite"]
        metafunc.parametrize("backend", chosen, scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: they are the slowest, and a plain failure should show first."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def base_config(url: str, instance: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": url,
        "COUNSELOR_COUPLES_PER_PAGE": 20,
        "COUNSELOR_DATA_KEYS": [DATA_KEY],
        "COUNSELOR_AUDIT_KEYS": [AUDIT_KEY],
        "COUNSELOR_PASSWORD_HASH": FAST_PASSWORD_HASH,
    }


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.Cluster]:
    cluster = pgcluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def migrate_to_head(url: str, instance: Path) -> None:
    app = create_app(base_config(url, instance))
    with app.app_context():
        upgrade()
        db.engine.dispose()


_templates: dict[tuple[str, str], str] = {}


def build_template(
    backend: str,
    name: str,
    migrate: Callable[[str, Path], None],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> str:
    """A database migrated by ``migrate`` once per run, for tests to copy (fresh_database).

    Built once per process even when pytest tears a session fixture's parameter down and sets
    it up again, as it does under pytest-xdist when a worker's tests alternate backends."""
    if (backend, name) in _templates:
        return _templates[backend, name]
    folder = tmp_path_factory.mktemp(f"{name}-{backend}")
    if backend == "sqlite":
        path = folder / f"{name}.sqlite3"
        migrate(f"sqlite:///{path}", folder)
        made = str(path)
    else:
        cluster: pgcluster.Cluster = request.getfixturevalue("pg_cluster")
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        migrate(cluster.url(name), folder)
        made = name
    _templates[backend, name] = made
    return made


@pytest.fixture(scope="session")
def database_template(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """A database migrated to head once per run; every test gets a fresh copy of it."""
    return build_template(backend, "counselor_template", migrate_to_head, tmp_path_factory, request)


_database_numbers = itertools.count(1)


@pytest.fixture
def empty_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """Make empty databases on the test's backend: ``url = empty_database()`` (migrations and
    upgrades start from nothing)."""
    made: list[str] = []

    def make() -> str:
        name = f"counselor_empty_{next(_database_numbers)}"
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


@contextmanager
def fresh_database(backend: str, template: str, folder: Path, request: pytest.FixtureRequest):
    """Yield the URL of a database of our own, copied from the migrated template."""
    if backend == "sqlite":
        path = folder / "test.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    cluster: pgcluster.Cluster = request.getfixturevalue("pg_cluster")
    name = f"counselor_test_{next(_database_numbers)}"
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield cluster.url(name)
    finally:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Client(FlaskClient):
    """A test client that sends forms the way a browser does: with the page's CSRF token."""

    def csrf_token(self) -> str:
        page = self.get("/login", follow_redirects=True).get_data(as_text=True)
        match = CSRF_META.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def post_form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        payload = {"csrf_token": self.csrf_token(), **(data or {})}
        return self.post(url, data=payload, **kwargs)


@pytest.fixture
def app(
    backend: str, database_template: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    with fresh_database(backend, database_template, tmp_path, request) as url:
        app = create_app(base_config(url, tmp_path))
        app.test_client_class = Client
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> Client:
    return app.test_client()


@pytest.fixture
def make_therapist(app: Flask) -> Callable[..., Therapist]:
    numbers = itertools.count(1)

    def make(name: str | None = None, *, admin: bool = False, active: bool = True) -> Therapist:
        number = next(numbers)
        with app.app_context():
            therapist = create_therapist(
                name or f"Therapist {number}",
                f"therapist{number}@example.org",
                PASSWORD,
                is_admin=admin,
            )
            therapist.active = active
            db.session.commit()
            db.session.refresh(therapist)
            db.session.expunge(therapist)
            return therapist

    return make


def add_couple(
    app: Flask,
    therapist_id: int,
    names: tuple[str, str] = ("Alex", "Sam"),
    *,
    concerns: str = "Arguing about time apart.",
) -> int:
    """A married couple of the therapist's, made through the service (any app, mounted too)."""
    with app.app_context():
        couple = create_couple(
            db.session.get(Therapist, therapist_id),
            CoupleDetails(
                partner_a=PartnerDetails(names[0], "they/them"),
                partner_b=PartnerDetails(names[1], "she/her"),
                relationship_stage=RelationshipStage.MARRIED,
                relationship_length_months=50,
                presenting_concerns=concerns,
            ),
        )
        db.session.commit()
        return couple.id


@pytest.fixture
def make_couple(app: Flask) -> Callable[..., int]:
    def make(
        therapist: Therapist,
        names: tuple[str, str] = ("Alex", "Sam"),
        *,
        concerns: str = "Arguing about time apart.",
    ) -> int:
        return add_couple(app, therapist.id, names, concerns=concerns)

    return make


def login(client: Client, therapist: Therapist, password: str = PASSWORD) -> Any:
    return client.post_form("/login", {"email": therapist.email, "password": password})


def age_session(client: Client, *, idle_minutes: int = 0, signed_in_hours: int = 0) -> None:
    """Move the session's clocks back, as if the therapist had been away that long."""
    with client.session_transaction() as session:
        session["seen_at"] -= idle_minutes * 60
        session["signed_in_at"] -= signed_in_hours * 3600


@pytest.fixture
def therapist(make_therapist: Callable[..., Therapist]) -> Therapist:
    return make_therapist("Dana Whitfield")


@pytest.fixture
def logged_in(client: Client, therapist: Therapist) -> Client:
    response = login(client, therapist)
    assert response.status_code == 302
    return client


@pytest.fixture
def count_queries(app: Flask) -> Callable[[], Any]:
    """Count the SQL statements a block of code sends: ``with count_queries() as n: ...``."""

    @contextmanager
    def counting() -> Iterator[list[str]]:
        statements: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", record)

    return counting
