"""Consistent backups while the app runs, and restoring one: SQLite's online backup API, or
``pg_dump``/``pg_restore`` for PostgreSQL.

A backup holds clinical text only as ciphertext; the data keys (instance/data_keys) are not in
it and must be kept safe separately, or the backup cannot be read.

bandit's subprocess warnings are answered here: pg_dump, pg_restore and psql run from a fixed
path, with an argument list and never through a shell.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import subprocess  # nosec B404
import tempfile
from contextlib import closing
from pathlib import Path

from sqlalchemy import Table, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

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
    """Replace the database's contents with the backup's (stop the app first).

    The backup is first made whole outside the live data (a scratch copy of the SQLite file;
    the SQL a PostgreSQL dump restores) and checked: it is whole, it holds our tables at a
    revision this code can use, and the data keys in use open each encrypted column. Only then
    is it swapped in, in one step that either completes or changes nothing. Whatever fails,
    the live data is left exactly as it was (BackupError says why, in one line).
    """
    if not path.is_file():
        raise BackupError(f"No backup file at {path}.")
    url = db.engine.url
    db.session.remove()
    db.engine.dispose()  # no pooled connection may keep reading the old contents
    if url.get_backend_name() == "sqlite":
        _restore_sqlite(path, _sqlite_path(url))
    elif url.get_backend_name() == "postgresql":
        _restore_postgres(path, url)
    else:
        raise BackupError(f"Restoring {url.get_backend_name()} databases is not supported.")


def _check_restorable(
    revision: str | None, sample: list[tuple[str, bytes]] | None, usable: list[str]
) -> None:
    """Refuse a backup this code cannot use, before anything live is touched: ``usable`` are
    the schema revisions it may be at."""
    if revision is None:
        raise BackupError("This file is not a backup of the couples-therapy tables. " + NOTHING)
    if revision not in usable:
        raise BackupError(
            f"The backup was made at revision {revision} of the couples-therapy tables, and "
            f"this restore takes {_revisions(usable)}: restore it with the package version "
            f"that made it. {NOTHING}"
        )
    if column := encryption.first_unopened(encryption.cipher(), sample):
        raise BackupError(
            f"The data keys in use do not open this backup ({column}): put back the data_keys "
            "file that was in use when it was made (or add its keys after the current one). "
            + NOTHING
        )


def _revisions(usable: list[str]) -> str:
    if len(usable) == 1:
        return f"revision {usable[0]} only (the database's own)"
    return f"revisions up to {usable[-1]} (an older one is brought up to date by db upgrade)"


NOTHING = "Nothing was restored: the database is as it was."


# ------------------------------------------------------------------------------ SQLite
def _restore_sqlite(backup_file: Path, live: Path) -> None:
    # Beside the live file: the same file system, so putting it in place is one rename.
    handle, name = tempfile.mkstemp(prefix=f".{live.name}.", suffix=".restoring", dir=live.parent)
    os.close(handle)
    scratch = Path(name)
    try:
        try:
            _sqlite_copy(backup_file, scratch)
            _sqlite_check_whole(scratch)
        except sqlite3.DatabaseError as error:
            raise BackupError(
                f"{backup_file} is not a readable SQLite backup. {NOTHING}"
            ) from error
        engine = create_engine(URL.create("sqlite", database=str(scratch)), poolclass=NullPool)
        # Shared with a host, our tables' rows are copied into the live ones: the same
        # revision only. Our own file is replaced whole: any revision this code can upgrade.
        mounted = shares_host_database()
        usable = [schema.current() or ""] if mounted else schema.history()
        db.engine.dispose()
        try:
            sample = encryption.stored_sample(engine)
            _check_restorable(schema.revision_at(engine), sample, usable)
        finally:
            engine.dispose()
        if mounted:
            _sqlite_replace_our_tables(scratch, live)
        else:
            _sqlite_swap(scratch, live)
    finally:
        scratch.unlink(missing_ok=True)


def _sqlite_check_whole(path: Path) -> None:
    """A truncated or damaged file copies all the same: every page is read back here."""
    with closing(sqlite3.connect(path)) as copy:
        (verdict,) = copy.execute("PRAGMA quick_check(1)").fetchone()
    if verdict != "ok":
        raise sqlite3.DatabaseError(verdict)


def _sqlite_swap(scratch: Path, live: Path) -> None:
    """Put the checked copy in the live file's place by one rename: the database is the old
    file or the new one, never part of each. Interrupted before it, nothing changed."""
    _settle(live)
    if live.exists():
        shutil.copymode(live, scratch)
    with scratch.open("rb") as written:
        os.fsync(written.fileno())  # on disk before the name points to it
    try:
        os.replace(scratch, live)
    except OSError as error:
        raise BackupError(
            f"The restored copy could not be put in place ({error}). {NOTHING}"
        ) from error
    folder = os.open(live.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def _settle(live: Path) -> None:
    """A journal that an interrupted write left belongs to the live file: SQLite finishes or
    undoes it when the file is next read. Read it now, or the journal would be applied to the
    restored file that takes its name. One still there means another process has it open."""
    if not live.exists():
        return
    with closing(sqlite3.connect(live)) as connection:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    for journal in (Path(f"{live}-journal"), Path(f"{live}-wal")):
        if journal.exists() and journal.stat().st_size:
            raise BackupError(f"The database is in use ({journal.name}): stop the app. {NOTHING}")


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
    """Put back our tables' rows from ``backup_file`` (checked) in one transaction; the host's
    tables are not touched."""
    tables = Base.metadata.sorted_tables
    with closing(sqlite3.connect(database, isolation_level=None)) as live:
        live.execute("ATTACH DATABASE ? AS saved", (str(backup_file),))
        try:
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
                raise BackupError(f"{NOTHING} ({type(error).__name__})") from error
        finally:
            live.execute("DETACH DATABASE saved")


def _statement(template: str, table: Table) -> str:
    """SQL naming one of our own tables and its columns: names from our models, quoted; no
    value from outside goes into it."""
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    return template.format(table=f'"{table.name}"', columns=columns)


def _postgres(program: str, url: URL, *arguments: str) -> None:
    """Run pg_dump, pg_restore or psql against the app's database; the password goes by
    environment, never on the command line, which every account on the machine can read (ps)."""
    libpq_url = without_password(url, drivername="postgresql")
    _run(program, url, *arguments, f"--dbname={libpq_url.render_as_string(hide_password=False)}")


def _run(program: str, url: URL, *arguments: str) -> None:
    # A fixed program found by _postgres_tool, arguments as a list, no shell.
    finished = subprocess.run(  # noqa: S603  # nosec B603
        [_postgres_tool(program), *arguments],
        env=_environment_with_password(url),
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        # On one line: what it said (its error, the context it gave) ends up in one message.
        raise BackupError(f"{program} failed: {' '.join(finished.stderr.split())[:2000]}")


def _restore_postgres(backup_file: Path, url: URL) -> None:
    """The dump is turned into the SQL that restores it (reading it whole: a truncated or
    damaged file fails here), that SQL's own data is checked, and it is run in one transaction
    that first drops our tables: all of it is committed, or none."""
    with tempfile.TemporaryDirectory(prefix="counselor-restore-") as folder:  # mode 0700
        script = Path(folder) / "restore.sql"
        try:
            # --clean: what the dump holds besides our tables is replaced too (our own
            # database's other objects); the drop below makes way for a backup from before an
            # upgrade, whose older tables the newer ones' constraints would otherwise hold.
            _run(
                "pg_restore",
                url,
                "--clean",
                "--if-exists",
                "--no-owner",
                f"--file={script}",
                str(backup_file),
            )
        except BackupError as error:
            raise BackupError(f"{backup_file} is not a readable backup. {NOTHING}") from error
        _check_restorable(*_sample_script(script), schema.history())
        try:
            _postgres(
                "psql",
                url,
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--command={DROP_OUR_TABLES}",
                f"--file={script}",
            )
        except BackupError as error:
            raise BackupError(f"{error} {NOTHING}") from error


# Every table of ours in the schema the app uses, in one statement (their own constraints
# between them are dropped with them); a host's table that depends on one stops it, and the
# transaction with it. Names come from the catalogue, quoted by format(); the prefix is
# schema.TABLE_PREFIX.
DROP_OUR_TABLES = """
DO $$
DECLARE ours text;
BEGIN
  SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO ours
    FROM pg_catalog.pg_tables
   WHERE schemaname = current_schema() AND starts_with(tablename, 'counselor_');
  IF ours IS NOT NULL THEN
    EXECUTE 'DROP TABLE ' || ours;
  END IF;
END $$;
"""
# "COPY public.counselor_couple (id, therapist_id, ...) FROM stdin;": the rows follow, one a
# line, tab-separated, until a line "\.".
COPY_LINE = re.compile(r'^COPY (?:"?\w+"?\.)?"?(\w+)"? \((.*)\) FROM stdin;$')


def _sample_script(script: Path) -> tuple[str | None, list[tuple[str, bytes]]]:
    """What the restore would put in our version table, and one stored token of each
    encrypted column, read from the rows in the SQL (as encryption.stored_sample reads them
    from a database)."""
    encrypted: dict[str, set[str]] = {}
    for column in encryption.encrypted_columns(Base.metadata):
        encrypted.setdefault(column.table.name, set()).add(column.name)
    token_start = encryption.TOKEN_START.decode("ascii")
    revision: str | None = None
    sample: dict[str, bytes] = {}
    table, columns = None, []
    with script.open(encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if table is None:
                if found := COPY_LINE.match(line):
                    table = found[1]
                    columns = [name.strip('"') for name in found[2].split(", ")]
                continue
            if line == "\\.":
                table = None
                continue
            row = dict(zip(columns, line.split("\t"), strict=False))
            if table == VERSION_TABLE:
                revision = row.get("version_num")
            for name in encrypted.get(table, ()):
                value = row.get(name, "")
                if f"{table}.{name}" not in sample and value.startswith(token_start):
                    sample[f"{table}.{name}"] = value.encode("ascii")
    return revision, list(sample.items())


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
