"""Consistent backups while the app runs, and restoring one: SQLite's online backup API, or
``pg_dump``/``pg_restore`` for PostgreSQL.

A backup holds clinical text only as ciphertext; the data keys (instance/data_keys) are not in
it and must be kept safe separately, or the backup cannot be read.

bandit's subprocess warnings are answered here: pg_dump and pg_restore run from a fixed path,
with an argument list and never through a shell.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess  # nosec B404
from contextlib import closing
from pathlib import Path

from sqlalchemy import Table
from sqlalchemy.engine import URL

from counselor_app import encryption, schema
from counselor_app.config import display_url, without_password
from counselor_app.extensions import db, own_db, state
from counselor_app.models import Base
from counselor_app.schema import TABLE_PREFIX, VERSION_TABLE


class BackupError(Exception):
    """The backup or restore could not be made; the message says why."""


def shares_host_database() -> bool:
    """Mounted on the host's database: backups and restores cover our tables only."""
    return state().db is not own_db


def backup(path: Path) -> None:
    """Write a consistent copy to ``path``; refused (BackupError) for a database without our
    tables, which is the wrong database (DATABASE_URL not set) far more often than a new one."""
    url = db.engine.url
    if schema.current() is None:
        raise BackupError(
            f"The database {display_url(url)} has no couples-therapy tables: there is nothing "
            "to back up. Is DATABASE_URL set (as the service sets it)? No file was written."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created private before anything is written into it.
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    ours_only = shares_host_database()
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(_sqlite_path(url), path)
        if ours_only:
            _drop_host_tables(path)
    elif url.get_backend_name() == "postgresql":
        # Uncompressed: ciphertext does not compress, and an auditor can search the file.
        tables = [f"--table={TABLE_PREFIX}*"] if ours_only else []
        _postgres(
            "pg_dump",
            url,
            "--format=custom",
            "--compress=0",
            "--no-owner",
            *tables,
            f"--file={path}",
        )
    else:
        raise BackupError(f"Backups of {url.get_backend_name()} databases are not supported.")


def restore(path: Path) -> None:
    """Replace the database's contents with the backup's. Stop the app first."""
    if not path.is_file():
        raise BackupError(f"No backup file at {path}.")
    url = db.engine.url
    db.session.remove()
    db.engine.dispose()  # no pooled connection may keep reading the old contents
    if url.get_backend_name() == "sqlite":
        if shares_host_database():
            _sqlite_replace_our_tables(path, _sqlite_path(url))
        else:
            _sqlite_copy(path, _sqlite_path(url))
    elif url.get_backend_name() == "postgresql":
        # A dump made while mounted holds our tables only, so --clean drops and brings back
        # those and nothing of the host's.
        _postgres(
            "pg_restore",
            url,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            str(path),
        )
    else:
        raise BackupError(f"Restoring {url.get_backend_name()} databases is not supported.")
    _check_keys_open_it()


class RestoredUnreadable(BackupError):
    """The backup was restored, but the data keys in use do not open what it holds."""


def _check_keys_open_it() -> None:
    """A backup made under keys no longer in use restores fine but shows nothing: say so now
    (one stored value of each encrypted column is tried)."""
    db.session.remove()
    if encryption.first_unopened(encryption.cipher(), encryption.stored_sample(db.engine)):
        raise RestoredUnreadable(
            "The backup was restored, but the data keys in use do not open it: put back the "
            "data_keys file that was in use when the backup was made (or add its keys after "
            "the current one)."
        )


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory database cannot be backed up.")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Page-by-page copy under SQLite's own locking: consistent even while others write."""
    with closing(sqlite3.connect(source)) as reader, closing(sqlite3.connect(target)) as writer:
        reader.backup(writer)


def _drop_host_tables(path: Path) -> None:
    """Leave only our tables in a copy of a database shared with the host."""
    with closing(sqlite3.connect(path)) as copy:
        names = [
            row[0]
            for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith((TABLE_PREFIX, "sqlite_"))
        ]
        copy.execute("PRAGMA foreign_keys=OFF")
        for name in names:
            copy.execute(f'DROP TABLE "{name}"')  # a name read from the file itself
        copy.commit()
        copy.execute("VACUUM")  # the host's rows must not linger in free pages


def _sqlite_replace_our_tables(backup_file: Path, database: Path) -> None:
    """Put back our tables' rows from ``backup_file`` in one transaction; the host's tables
    are not touched. The backup must be at the schema revision the database is at."""
    tables = Base.metadata.sorted_tables
    with closing(sqlite3.connect(database, isolation_level=None)) as live:
        live.execute("ATTACH DATABASE ? AS saved", (str(backup_file),))
        try:
            _check_same_revision(live)
            live.execute("PRAGMA foreign_keys=ON")
            live.execute("BEGIN IMMEDIATE")
            try:
                for table in reversed(tables):  # children before their parents
                    live.execute(_statement("DELETE FROM main.{table}", table))
                for table in tables:
                    live.execute(
                        _statement(
                            "INSERT INTO main.{table} ({columns}) "
                            "SELECT {columns} FROM saved.{table}",
                            table,
                        )
                    )
                live.execute("COMMIT")
            except sqlite3.Error as error:
                live.execute("ROLLBACK")
                raise BackupError(f"Nothing was restored: {type(error).__name__}.") from error
        finally:
            live.execute("DETACH DATABASE saved")


def _statement(template: str, table: Table) -> str:
    """SQL naming one of our own tables and its columns: names from our models, quoted; no
    value from outside goes into it."""
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    return template.format(table=f'"{table.name}"', columns=columns)


def _check_same_revision(live: sqlite3.Connection) -> None:
    # Our own version table's name, a constant: nothing from outside goes into the SQL.
    query = f'SELECT version_num FROM {{}}."{VERSION_TABLE}"'  # noqa: S608  # nosec B608
    try:
        saved = live.execute(query.format("saved")).fetchall()
        current = live.execute(query.format("main")).fetchall()
    except sqlite3.Error as error:
        raise BackupError("This file is not a backup of the couples-therapy tables.") from error
    if saved != current:
        raise BackupError(
            "The backup was made at another version of the couples-therapy tables: restore it "
            "with the package version that made it, then upgrade."
        )


def _postgres(program: str, url: URL, *arguments: str) -> None:
    """Run pg_dump or pg_restore against the app's database; the password goes by environment,
    never on the command line, which every account on the machine can read (ps)."""
    libpq_url = without_password(url, drivername="postgresql")
    command = [
        _postgres_tool(program),
        *arguments,
        f"--dbname={libpq_url.render_as_string(hide_password=False)}",
    ]
    # A fixed program found by _postgres_tool, arguments as a list, no shell.
    finished = subprocess.run(  # noqa: S603  # nosec B603
        command, env=_environment_with_password(url), capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        raise BackupError(f"{program} failed: {finished.stderr.strip()[:2000]}")


def _environment_with_password(url: URL) -> dict[str, str]:
    """This process's environment, and PGPASSWORD: the URL's password, after the user name or
    in the query string (``?password=``)."""
    query = {name.lower(): value for name, value in url.query.items()}
    if "sslpassword" in query:
        # libpq reads it from the connection string only: it would be on the command line.
        raise BackupError(
            "DATABASE_URL gives an sslpassword, which pg_dump and pg_restore could only be "
            "given on their command line: use a client key without a passphrase (readable by "
            "this account only) instead."
        )
    password = url.password or query.get("password")
    if isinstance(password, tuple):
        password = password[-1]  # named more than once in the query
    environment = dict(os.environ)
    if password:
        environment["PGPASSWORD"] = str(password)
    return environment


def _postgres_tool(program: str) -> str:
    """The newest installed client (it reads older servers' dumps), else the one on PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), key=_version, reverse=True)
    if found:
        return found[0]
    if on_path := shutil.which(program):
        return on_path
    raise BackupError(f"{program} was not found: install the PostgreSQL client tools.")


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0
