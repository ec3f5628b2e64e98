"""Running in production: upgrades that never run under a live worker, and readiness.

A worker serves our pages only while the database is at the revision this code was built for
(the head of counselor_app/migrations) and no maintenance flag is raised. Otherwise it answers
503 ("upgrade in progress") without reading or writing anything: code of one release on a
database of another is how old workers served ciphertext as a PDF, or stored text unencrypted,
while an upgrade ran under them.

``flask counselor db upgrade`` (``safe_upgrade``) backs the database up when a revision ahead
rewrites stored rows, raises the flag, waits until every worker has seen it and finished the
requests it had under way, migrates, and lowers the flag. Workers started before the upgrade
keep answering 503 (their code is older than the database) until they are restarted.

Each worker looks at the revision and the flag at most once per COUNSELOR_SCHEMA_CHECK_SECONDS,
on a pooled connection outside the request's session (so the look never opens the request's
transaction, and a page's statement count does not depend on when the last look was).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import InvalidToken
from flask import current_app, g, request
from sqlalchemy import column, delete, insert, inspect, select, table, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.wrappers import Response

from counselor_app import errors, schema
from counselor_app.encryption import EXTENSION
from counselor_app.extensions import db
from counselor_app.models import Couple, MaintenanceFlag
from counselor_app.web import PUBLIC_FILES, local_endpoint

logger = logging.getLogger(__name__)

# What a worker finds when it looks at the database (also /readyz's schema reasons).
OK = "ok"
MAINTENANCE = "maintenance"  # the flag is raised: an upgrade is about to run, or running
BEHIND = "behind"  # the database is older than this code: the upgrade has not run yet
AHEAD = "ahead"  # the database is newer than this code: an upgrade ran under this worker
UNREACHABLE = "unreachable"  # the database did not answer

READY = "ready"
# Routes the guard lets through: files, the liveness check, and readiness (which looks itself).
UNGUARDED = PUBLIC_FILES | {READY}
# /readyz's queries must come back quickly, or a load balancer's check times out first; during
# an upgrade a migration may hold a lock on the very tables they read. On PostgreSQL each of them
# runs under these limits (constants, for the transaction only).
READY_TIMEOUT_MS = 2000
READY_LIMITS = (
    f"SET LOCAL statement_timeout = {READY_TIMEOUT_MS}",
    f"SET LOCAL lock_timeout = {READY_TIMEOUT_MS}",
)
MAINTENANCE_TABLE = MaintenanceFlag.__tablename__
FLAG_ID = 1
# Plain SQL for a driver's cursor (no parameters, so any paramstyle): our own constant table
# names, nothing from outside.
REVISION_QUERY = f"SELECT version_num FROM {schema.VERSION_TABLE}"  # noqa: S608  # nosec B608
FLAG_QUERY = f"SELECT id FROM {MAINTENANCE_TABLE}"  # noqa: S608  # nosec B608


class UpgradeError(Exception):
    """The upgrade was not run; the message says why and what to do."""


def _revisions_on_disk() -> tuple[str, frozenset[str]]:
    """The head of our migrations folder, and every revision in it."""
    scripts = schema._scripts()
    [head] = scripts.get_heads()
    return head, frozenset(script.revision for script in scripts.walk_revisions())


# Read once, when this code is loaded (init_app loads it), never at a first request: after
# `pip install` of a newer release the folder on disk is the new release's, and a worker still
# running the old code would take the new head for its own and serve the new schema.
BUILT_FOR, KNOWN_REVISIONS = _revisions_on_disk()


@dataclass
class _Watch:
    """One app's last look at its database, in this process."""

    state: str = ""
    expires: float = 0.0


def _watch() -> _Watch:
    watch: _Watch = current_app.extensions.setdefault("counselor_operations", _Watch())
    return watch


def schema_state() -> str:
    """OK, MAINTENANCE, BEHIND, AHEAD or UNREACHABLE; looked up again once the last look is
    older than COUNSELOR_SCHEMA_CHECK_SECONDS (an unreachable database, every time)."""
    watch = _watch()
    now = time.monotonic()
    if watch.state and now < watch.expires:
        return watch.state
    found = look()
    if found != watch.state and found not in (OK, UNREACHABLE):
        # Revisions and the flag's state: nothing of any client's.
        logger.warning(
            "Answering 503 on our pages: schema %s (this code is for revision %s).",
            found,
            BUILT_FOR,
        )
    if found == UNREACHABLE:
        watch.state, watch.expires = "", 0.0
    else:
        ttl = float(current_app.config["COUNSELOR_SCHEMA_CHECK_SECONDS"])
        watch.state, watch.expires = found, now + ttl
    return found


def look(*, limited: bool = False) -> str:
    """The database's revision and flag, read now, on a pooled connection of its own;
    ``limited``: under READY_LIMITS."""
    engine = db.engine
    errors_of_driver = (engine.dialect.loaded_dbapi.Error, SQLAlchemyError)
    try:
        connection = engine.raw_connection()
    except errors_of_driver:
        return UNREACHABLE
    found = UNREACHABLE
    try:
        with suppress(*errors_of_driver):
            found = _read(connection, errors_of_driver, limited=limited)
    finally:
        if found == UNREACHABLE:
            connection.invalidate()  # never back to the pool, nor reset there (and logged)
        else:
            with suppress(*errors_of_driver):
                connection.rollback()
            connection.close()  # back to the pool
    return found


def _read(connection: Any, errors_of_driver: tuple[type[Exception], ...], *, limited: bool) -> str:
    cursor = connection.cursor()
    if limited:
        _limit_time(cursor.execute)
    try:
        cursor.execute(REVISION_QUERY)
        revisions = [row[0] for row in cursor.fetchall()]
    except errors_of_driver:
        return _missing_or_unreachable(connection)
    if revisions != [BUILT_FOR]:
        known = all(revision in KNOWN_REVISIONS for revision in revisions)
        return BEHIND if not revisions or known else AHEAD
    try:
        cursor.execute(FLAG_QUERY)
        raised = cursor.fetchall()
    except errors_of_driver:
        return _missing_or_unreachable(connection)
    return MAINTENANCE if raised else OK


def _missing_or_unreachable(connection: Any) -> str:
    """A look failed: a table missing (our tables older than this code) or the database gone."""
    engine = db.engine
    try:
        connection.rollback()
        probe = connection.cursor()
        probe.execute("SELECT 1")
        probe.fetchall()
    except (engine.dialect.loaded_dbapi.Error, SQLAlchemyError):
        return UNREACHABLE
    return BEHIND


def guard() -> Response | None:
    """Before any hook of ours touches the database: 503 unless it is at our revision, no flag
    raised, and reachable. The first hook our parent blueprint runs."""
    endpoint = local_endpoint()
    if endpoint in UNGUARDED:
        if endpoint == READY:
            g.counselor_therapist = None  # for machines: nobody is looked up or audited
        return None
    found = schema_state()
    if found == OK:
        return None
    if found == UNREACHABLE:
        rule = request.url_rule.rule if request.url_rule else "(no route)"
        logger.error(
            "Database unavailable on %s [%s]: no answer to the guard", rule, request.method
        )
        return errors.unavailable("outage")
    return errors.unavailable("upgrade")


# --- Readiness ------------------------------------------------------------------------------


def readiness() -> dict[str, str]:
    """One word per check: the database answers, is at our revision with no flag raised, and
    the configured data keys open what it stores. Never an exception's text. The keys are tried
    only on a schema that is ours and not being upgraded: a migration may hold its tables."""
    database = _database_answers()
    if database != OK:
        return {"database": database, "schema": "unknown", "keys": "unknown"}
    found = look(limited=True)
    keys = _keys_open_stored_data() if found == OK else "unknown"
    return {"database": OK, "schema": found, "keys": keys}


def _limit_time(execute: Callable[[str], Any]) -> None:
    """Bound the statements of the transaction ``execute`` runs in (PostgreSQL's limits)."""
    if db.engine.dialect.name == "postgresql":
        for statement in READY_LIMITS:
            execute(statement)


def _database_answers() -> str:
    try:
        with db.engine.connect() as connection:
            _limit_time(lambda statement: connection.execute(text(statement)))
            connection.execute(select(1)).scalar_one()
            connection.rollback()
    except SQLAlchemyError:
        return UNREACHABLE
    return OK


def _keys_open_stored_data() -> str:
    """Whether the keys open a stored value (a couple's presenting concerns, as stored), if
    the database holds one: "ok", "wrong", or "unknown" (the value could not be read)."""
    stored = column("presenting_concerns")
    query = (
        select(stored)
        .select_from(table(Couple.__tablename__, stored))
        .where(stored.is_not(None), stored != "")
        .limit(1)
    )
    try:
        with db.engine.connect() as connection:
            _limit_time(lambda statement: connection.execute(text(statement)))
            value = connection.execute(query).scalar()
            connection.rollback()
    except SQLAlchemyError:
        return "unknown"
    if value is None:
        return OK
    try:
        current_app.extensions[EXTENSION].decrypt(str(value).encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return "wrong"
    return OK


# --- The maintenance flag and the upgrade ---------------------------------------------------


def flag_table_exists() -> bool:
    return MAINTENANCE_TABLE in inspect(db.engine).get_table_names()


def raised_flag() -> dict[str, Any] | None:
    """The flag's row (reason, raised_by, raised_at), or None when it is down or not made yet."""
    if not flag_table_exists():
        return None
    flag = MaintenanceFlag.__table__
    with db.engine.connect() as connection:
        row = connection.execute(select(flag).where(flag.c.id == FLAG_ID)).mappings().first()
    return dict(row) if row else None


def raise_flag(reason: str, *, force: bool = False) -> None:
    """Raise the flag; UpgradeError if it is up already (another upgrade), unless ``force``."""
    flag = MaintenanceFlag.__table__
    with db.engine.begin() as connection:
        if force:
            connection.execute(delete(flag))
        try:
            connection.execute(
                insert(flag).values(
                    id=FLAG_ID,
                    reason=reason,
                    raised_by=f"{socket.gethostname()} pid {os.getpid()}"[:200],
                    raised_at=datetime.now(UTC),
                )
            )
        except IntegrityError:
            raise UpgradeError(_flag_is_up(raised_flag())) from None


def lower_flag() -> None:
    with db.engine.begin() as connection:
        connection.execute(delete(MaintenanceFlag.__table__))


def _flag_is_up(row: dict[str, Any] | None) -> str:
    who = f" by {row['raised_by']} at {row['raised_at']:%Y-%m-%d %H:%M}" if row else ""
    return (
        f"The maintenance flag is already raised{who}: another upgrade is running. "
        "If none is (it failed or was stopped), run again with --force."
    )


def upgrade_wait() -> float:
    """How long after raising the flag every worker has seen it and finished what it had under
    way: its last look's lifetime, then the longest a request may run (gunicorn's timeout)."""
    config = current_app.config
    return float(config["COUNSELOR_SCHEMA_CHECK_SECONDS"]) + float(
        config["COUNSELOR_UPGRADE_DRAIN_SECONDS"]
    )


def rewriting_revisions(target: str = "head") -> list[str]:
    """The revisions between the database's and ``target`` whose upgrade rewrites stored rows
    (``rewrites_data = True`` in the revision file), oldest first."""
    current = schema.current()
    scripts = schema._scripts()
    ahead = list(scripts.iterate_revisions(target, current or "base"))
    return [s.revision for s in reversed(ahead) if getattr(s.module, "rewrites_data", False)]


def backup_path(revision: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(current_app.instance_path) / "backups" / f"pre-upgrade-{revision}-{stamp}.backup"


def safe_upgrade(
    target: str = "head",
    *,
    force: bool = False,
    make_backup: bool = True,
    echo: Callable[[str], Any] = print,
) -> None:
    """``flask counselor db upgrade``: backup if due, flag, wait, migrate, lower the flag."""
    from counselor_app import backup

    current = schema.current()
    if current is None and not schema._our_tables():
        schema.upgrade(target)  # a new database: nobody is using it yet
        echo(f"Our tables were created at revision {schema.current()}.")
        return
    flag_exists = flag_table_exists()
    if flag_exists and not force and (row := raised_flag()):
        raise UpgradeError(_flag_is_up(row))
    if not list(schema._scripts().iterate_revisions(target, current or "base")):
        if flag_exists and force and raised_flag():
            lower_flag()  # left raised by an upgrade that failed after all its migrations
            echo("Maintenance flag lowered.")
        echo(f"Our tables are at revision {current} already: nothing to upgrade.")
        return
    rewriting = rewriting_revisions(target)
    if rewriting and make_backup:
        path = backup_path(current or "none")
        try:
            backup.backup(path)
        except backup.BackupError as error:
            raise UpgradeError(
                f"The backup before the upgrade failed, so nothing was upgraded: {error} "
                "(--no-backup upgrades without one)."
            ) from error
        echo(
            f"Revisions {', '.join(rewriting)} rewrite stored data: backup written to {path} "
            f"(at revision {current}; restore it with the release that made it)."
        )
    elif rewriting:
        echo(f"No backup made (--no-backup), though revisions {', '.join(rewriting)} rewrite data.")
    if flag_exists:
        raise_flag("upgrade", force=force)
        wait = upgrade_wait()
        echo(f"Maintenance flag raised: every worker answers 503. Waiting {wait:g} s for them.")
        time.sleep(wait)
    else:
        echo(
            "This database has no maintenance flag yet (revision 0012 adds it): workers of "
            "earlier releases cannot be paused, so they must be stopped before this upgrade."
        )
    try:
        schema.upgrade(target)
    except Exception:
        if flag_exists:
            echo(
                "The upgrade failed: the maintenance flag stays raised, so no worker serves a "
                "half-upgraded database. Fix the cause and run the upgrade again with --force "
                "(or restore the backup and run `flask counselor db maintenance off`)."
            )
        raise
    if flag_exists:
        lower_flag()
    echo(
        f"Upgraded to revision {schema.current()}; maintenance flag lowered. Restart the app: "
        "workers started before the upgrade answer 503 until then."
    )
