"""/readyz and a database outage: the readiness check says which part is not ready, and while
the database is unreachable our pages answer our own 503 page (headers, no-store), and the logs
name the route and the exception's class, never its message.

Standalone and mounted in the reference host, on SQLite (the database file replaced by a
directory) and PostgreSQL (the test's database refusing connections, its sessions ended).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from flask import Flask

from counselor_app import encryption, schema
from counselor_app.errors import is_outage
from counselor_app.extensions import db, state
from host_support import PREFIX, clinician, host, host_client, host_template  # noqa: F401

CONCERNS = "Ongoing arguments about the in-laws' visits."
# What an outage's exception says: none of it may reach a log line or a page.
EXCEPTION_TEXT = ("unable to open", "not currently accepting", "terminating connection", "(psycopg")


@contextmanager
def database_down(app: Flask, request: pytest.FixtureRequest) -> Iterator[None]:
    """The app's database stops answering (then comes back): the file becomes a directory on
    SQLite; on PostgreSQL the database refuses connections and its sessions are ended."""
    with app.app_context():
        engine = state().db.engine
        url = engine.url
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        away = path.with_suffix(".away")
        os.replace(path, away)
        path.mkdir()
        engine.dispose()  # a pooled connection would go on reading the file it had open
        try:
            yield
        finally:
            path.rmdir()
            os.replace(away, path)
            engine.dispose()
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = url.database

    def allow(allowed: bool) -> None:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(allowed).lower()}")
            if not allowed:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    allow(False)
    try:
        yield
    finally:
        allow(True)
        engine.dispose()


def recorded(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)


def test_readyz_is_ready_on_a_healthy_app(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ready\ndatabase: ok\nschema: ok\nkeys: ok\n"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers  # no session for a load balancer's check


def test_readyz_and_a_signed_in_page_while_the_database_is_down(
    app, logged_in, therapist, make_couple, request, caplog
):
    couple_id = make_couple(therapist, concerns=CONCERNS)
    assert logged_in.get(f"/couples/{couple_id}").status_code == 200
    token = logged_in.csrf_token()
    with database_down(app, request):
        ready = logged_in.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_data(as_text=True) == (
            "not ready\ndatabase: unreachable\nschema: unknown\nkeys: unknown\n"
        )
        page = logged_in.get(f"/couples/{couple_id}")
        posted = logged_in.post(
            f"/couples/{couple_id}/edit", data={"csrf_token": token, "presenting_concerns": "x"}
        )
        autosave = logged_in.post(
            f"/couples/{couple_id}/edit",
            data={"csrf_token": token},
            headers={"Accept": "application/json"},
        )
        health = logged_in.get("/healthz")
    assert health.status_code == 200  # liveness: the process answers, whatever the database
    for response in (page, posted):
        body = response.get_data(as_text=True)
        assert response.status_code == 503
        assert "Temporarily unavailable" in body
        # Only what the guard stopped, or a page only read, is said to have saved nothing.
        assert ("nothing you sent was saved" in body) != (
            "some of what you sent may have been saved" in body
        )
        assert "css/app.css" in body  # our styled page, not the server's bare one
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Retry-After"] == "60"
        assert "Alex" not in body and CONCERNS not in body
        assert not any(text in body for text in EXCEPTION_TEXT)
    assert "Back button" in posted.get_data(as_text=True)
    assert "nothing you sent was saved" in page.get_data(as_text=True)
    assert autosave.status_code == 503 and autosave.json["saved"] is False
    logged = recorded(caplog)
    assert "Database unavailable on /couples/<counselor_id:couple_id> [GET]" in logged
    assert not any(text in logged for text in EXCEPTION_TEXT), logged
    assert CONCERNS not in logged and "Alex" not in logged
    # And back: the same worker serves again once the database answers.
    assert logged_in.get("/readyz").status_code == 200
    assert logged_in.get(f"/couples/{couple_id}").status_code == 200


@pytest.mark.parametrize("trusted_for", [0, 3600], ids=["guard-looks", "look-cached"])
def test_the_outage_page_whether_or_not_the_guard_looked(
    app, logged_in, therapist, make_couple, request, trusted_for, caplog
):
    """With its last look cached, a worker meets the outage in the page's own queries: the
    error handler answers the same page the guard would."""
    couple_id = make_couple(therapist)
    app.config["COUNSELOR_SCHEMA_CHECK_SECONDS"] = trusted_for
    app.extensions.pop("counselor_operations", None)
    assert logged_in.get("/").status_code == 200
    with database_down(app, request):
        response = logged_in.get(f"/couples/{couple_id}/plans")
    assert response.status_code == 503, response.status_code
    assert "Temporarily unavailable" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    # Which of the two answered: the guard, or the handler of the page's failed query.
    said = "no answer to the guard" if trusted_for == 0 else "sqlalchemy.exc.OperationalError"
    assert f"Database unavailable on /couples/<counselor_id:couple_id>/plans [GET]: {said}" in (
        caplog.text
    )


def test_the_sign_in_page_while_the_database_is_down(app, client, therapist, request):
    with database_down(app, request):
        shown = client.get("/login")
        sent = client.post("/login", data={"email": therapist.email, "password": "x"})
    assert shown.status_code == 503
    # The form's CSRF check passes or not: either way, nobody is signed in and nothing leaks.
    assert sent.status_code in (400, 503)
    assert shown.headers["Cache-Control"] == "no-store"


def test_readyz_names_keys_that_do_not_open_the_stored_data(app, client, therapist, make_couple):
    make_couple(therapist)
    encryption.use_keys(app, [Fernet.generate_key().decode()])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_data(as_text=True).splitlines()[1:] == [
        "database: ok",
        "schema: ok",
        "keys: wrong",
    ]


@contextmanager
def table_locked(app: Flask, request: pytest.FixtureRequest, table: str) -> Iterator[None]:
    """On PostgreSQL another session holds ``table`` as a migration does (ACCESS EXCLUSIVE),
    for 10 s at most, so that a check which waits for it shows as slow rather than hanging.
    On SQLite (no such lock on one table), nothing."""
    with app.app_context():
        url = state().db.engine.url
    if url.get_backend_name() != "postgresql":
        yield
        return
    cluster = request.getfixturevalue("pg_cluster")
    with psycopg.connect(cluster.conninfo(url.database or "")) as locker:
        locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(10, locker.rollback)
        release.start()
        try:
            yield
        finally:
            release.cancel()
            locker.rollback()


def timed_readyz(client) -> tuple[str, float]:
    started = time.monotonic()
    response = client.get("/readyz")
    assert response.status_code == 503
    return response.get_data(as_text=True), time.monotonic() - started


def test_readyz_during_an_upgrade_leaves_the_data_alone(
    app, client, therapist, make_couple, request
):
    """While the flag is up a migration may hold our tables: the keys are not tried."""
    make_couple(therapist)
    assert app.test_cli_runner().invoke(schema.db_cli, ["maintenance", "on"]).exit_code == 0
    with table_locked(app, request, "counselor_couple"):
        said, took = timed_readyz(client)
    assert said == "not ready\ndatabase: ok\nschema: maintenance\nkeys: unknown\n"
    assert took < 5


def test_readyz_does_not_wait_for_a_locked_table(app, client, therapist, make_couple, request):
    """Every query /readyz makes is bounded: a table held by another session (a migration run
    without the flag, a long transaction) makes it answer 503 within seconds, not hang."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("PostgreSQL's table locks and time limits")
    make_couple(therapist)
    with table_locked(app, request, "counselor_couple"):
        said, took = timed_readyz(client)
    assert said.splitlines()[1:] == ["database: ok", "schema: ok", "keys: unknown"]
    assert took < 5


def test_a_failing_rollback_does_not_turn_the_error_page_into_a_bare_500(
    app, client, monkeypatch, caplog
):
    """The 500 handler ends the request's transaction; when that raises too (a dead
    connection), our page is still the answer, and only our log line is written."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(CONCERNS.upper())  # what a database error may quote

    def rollback_fails() -> None:
        raise RuntimeError("rollback on a dead connection")

    with app.app_context():
        monkeypatch.setattr(db.session, "rollback", rollback_fails)
        response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert CONCERNS.upper() not in recorded(caplog)
    # Our one line: a rollback raising in the handler would have Flask log the whole chain
    # through the app's logger (mounted, a host's, which keeps messages).
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["counselor_app.errors"], [r.getMessage() for r in errors]


def test_what_counts_as_an_outage(tmp_path):
    import sqlite3

    from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

    assert is_outage(OperationalError("SELECT 1", {}, Exception("gone")))
    # SQLite: a file it cannot open is an outage; a missing table is a fault of the code.
    (tmp_path / "db").mkdir()
    with pytest.raises(sqlite3.OperationalError) as cannot_open:
        sqlite3.connect(tmp_path / "db")
    assert is_outage(OperationalError("SELECT 1", {}, cannot_open.value))
    with (
        closing(sqlite3.connect(":memory:")) as connection,
        pytest.raises(sqlite3.OperationalError) as no_table,
    ):
        connection.execute("SELECT * FROM nowhere")
    assert not is_outage(OperationalError("SELECT", {}, no_table.value))
    assert is_outage(DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True))
    assert not is_outage(IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not is_outage(ProgrammingError("SELECT", {}, Exception("syntax")))
    assert not is_outage(RuntimeError("not the database"))


def test_readyz_mounted_and_the_outage_page_in_the_host(host, host_client, request, caplog):
    assert host_client.get(f"{PREFIX}/readyz").status_code == 200
    assert host_client.get(f"{PREFIX}/").status_code == 200
    with database_down(host, request):
        ready = host_client.get(f"{PREFIX}/readyz")
        page = host_client.get(f"{PREFIX}/")
    assert ready.status_code == 503
    assert "database: unreachable" in ready.get_data(as_text=True)
    assert page.status_code == 503
    assert "Temporarily unavailable" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert not any(text in recorded(caplog) for text in EXCEPTION_TEXT)


def test_the_outage_log_line_is_ours_alone(app, logged_in, therapist, request, caplog):
    """gunicorn logs an exception only when the app lets it through: ours never does."""
    caplog.set_level(logging.INFO)
    with database_down(app, request):
        assert logged_in.get("/").status_code == 503
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["counselor_app.errors"], [r.getMessage() for r in errors]
