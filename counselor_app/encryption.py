"""Encryption at rest for clinical free text: column types that store only ciphertext.

Fernet (AES-128-CBC with an HMAC-SHA256 over the whole token) is authenticated: a ciphertext
altered in the database fails its check and is refused rather than shown. The keys live in
``instance/data_keys`` (one per line, the first encrypts, all decrypt), apart from the database
and its backups, or in the ``COUNSELOR_DATA_KEYS`` setting. ``flask counselor data-keys
rotate`` re-encrypts every value under a new key; the README describes the procedure.

At start the keys are checked against a sample of the stored ciphertext (one value per
encrypted column): the app refuses to start (DataKeysError) rather than make a new key beside
data it cannot open, or run with keys that open nothing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import (
    Column,
    Connection,
    LargeBinary,
    MetaData,
    Table,
    Text,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import column as sql_column
from sqlalchemy.sql import table as sql_table
from sqlalchemy.sql.expression import type_coerce
from sqlalchemy.types import TypeDecorator

from counselor_app.config import ConfigurationError, display_url, write_once

logger = logging.getLogger(__name__)

DATA_KEYS_FILE = "data_keys"
EXTENSION = "counselor_cipher"


class UnreadableRecord(Exception):
    """A stored ciphertext failed its integrity check (altered, or made with an unknown key)."""


class DataKeysError(ConfigurationError):
    """The data keys do not fit the database: the app refuses to start (one line, exit 1)."""


def parse_keys(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def keys_path(app: Flask) -> Path:
    return Path(app.instance_path) / DATA_KEYS_FILE


def ensure_data_keys(app: Flask, engine: Engine) -> None:
    """Use the configured keys, else instance/data_keys, else make and keep a first key; but
    first check them against the database (``engine``): keys that do not open what it holds,
    no key beside encrypted data, or no key and a database that cannot be read, raise
    DataKeysError and no key file is written."""
    configured = app.config.get("COUNSELOR_DATA_KEYS")
    path = keys_path(app)
    keys = configured or (parse_keys(path.read_text()) if path.is_file() else None)
    if keys:
        use_keys(app, keys)  # a malformed key fails here, before any query
    try:
        sample = stored_sample(engine)
    except DBAPIError as error:
        _database_unreadable(engine, error, have_keys=bool(keys))
        return
    if not keys:
        if sample:
            raise DataKeysError(
                f"The database holds encrypted data ({sample[0][0]}) but no data key is "
                f"configured: put back the data_keys file in the instance folder "
                f"({app.instance_path}; COUNSELOR_INSTANCE_PATH names another) or set "
                "COUNSELOR_DATA_KEYS. No new key was made."
            )
        keys = read_or_create_keys(path)
        use_keys(app, keys)
        return
    if column := first_unopened(app.extensions[EXTENSION], sample):
        where = "COUNSELOR_DATA_KEYS" if configured else str(path)
        raise DataKeysError(
            f"The data keys in use ({where}) do not open the encrypted data in the database "
            f"({column}): put back the keys that were in use (the data_keys file or "
            "COUNSELOR_DATA_KEYS), newest first. Nothing was changed."
        )


def _database_unreadable(engine: Engine, error: DBAPIError, *, have_keys: bool) -> None:
    """The database cannot be read at start: with keys configured, start and say they were not
    checked; with none, refuse, since a key made now might sit beside data it cannot open."""
    reason = type(error.orig if error.orig is not None else error).__name__
    if not have_keys:
        raise DataKeysError(
            "No data key is configured and the app cannot check the database "
            f"{display_url(engine.url)} for encrypted data ({reason}), so no new key was made; "
            "start again when the database answers, or set COUNSELOR_DATA_KEYS."
        ) from error
    logger.warning(
        "The data keys were not checked against the database: it cannot be read (%s).", reason
    )


def first_unopened(keys: MultiFernet, sample: list[tuple[str, bytes]] | None) -> str | None:
    """The first sampled column whose token ``keys`` do not open; None when they open all."""
    for column, token in sample or ():
        try:
            keys.decrypt(token)
        except InvalidToken:
            return column
    return None


def use_keys(app: Flask, keys: Iterable[str]) -> None:
    try:
        app.extensions[EXTENSION] = MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as error:
        raise DataKeysError(
            "A data key is not a valid Fernet key (32 url-safe base64-encoded bytes)."
        ) from error


# The first bytes of every Fernet token (its version byte, 0x80, in url-safe base64): a value
# without them is not ciphertext (plain text a pending migration will encrypt).
TOKEN_START = b"gAAAAA"
# Our tables' prefix since revision 0008, and tables every database of ours had before it
# (as in counselor_app.schema, which imports the models and so cannot be imported here).
LEGACY_PREFIX = "counselor_"
LEGACY_TABLES = ("therapist", "couple", "partner")


def stored_sample(engine: Engine) -> list[tuple[str, bytes]] | None:
    """One stored token from each encrypted column that holds one: ``[("table.column",
    token)]``; None when our tables are not made yet. DBAPIError when the database cannot be
    read (unreachable): never taken for one without encrypted data.

    One query when the schema is the models'; a database at an older revision (an upgrade
    before its migrations) is read column by column, for the columns it has.
    """
    from counselor_app.models import Base

    columns = encrypted_columns(Base.metadata)
    with engine.connect() as connection:
        try:
            sampled = _sample_at_once(connection, columns)
        except DBAPIError:
            connection.rollback()
            sampled = _sample_present(connection, columns)
        # Not kept in the pool: a pre-forking server (gunicorn --preload) must not share it.
        connection.invalidate()
    if sampled is None:
        logger.info("The data keys were not checked: the database has no tables of ours yet.")
        return None
    tokens = [
        (name, value.encode("ascii") if isinstance(value, str) else bytes(value))
        for name, value in sampled
        if value is not None
    ]
    return [(name, token) for name, token in tokens if token.startswith(TOKEN_START)]


def encrypted_columns(metadata: MetaData) -> list[Column[Any]]:
    return [
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, ENCRYPTED_TYPES)
    ]


def _first_value(table_name: str, column: Column[Any]) -> Any:
    """The first non-null stored value of ``column`` (in ``table_name``), as raw text or bytes."""
    stored = sql_column(column.name, column.type.impl)
    return (
        select(stored)
        .select_from(sql_table(table_name, stored))
        .where(stored.is_not(None))
        .limit(1)
        .scalar_subquery()
    )


def _sample(
    connection: Connection, located: list[tuple[str, Column[Any]]]
) -> list[tuple[str, Any]]:
    row = connection.execute(select(*(_first_value(t, c) for t, c in located))).one()
    return [(f"{t}.{c.name}", value) for (t, c), value in zip(located, row, strict=True)]


def _sample_at_once(connection: Connection, columns: list[Column[Any]]) -> list[tuple[str, Any]]:
    return _sample(connection, [(column.table.name, column) for column in columns])


def _sample_present(
    connection: Connection, columns: list[Column[Any]]
) -> list[tuple[str, Any]] | None:
    """The columns the database has: an older revision may lack some, and before revision 0008
    our tables had no ``counselor_`` prefix (encrypted since 0007 all the same)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    # Unprefixed names are ours only in a database of ours from before 0008 (a host's database
    # may have an `appointment` of its own).
    legacy = set(LEGACY_TABLES) <= tables
    located: list[tuple[str, Column[Any]]] = []
    names: dict[str, set[str]] = {}
    for column in columns:
        candidates = [column.table.name]
        if legacy:
            candidates.append(column.table.name.removeprefix(LEGACY_PREFIX))
        name = next((n for n in candidates if n in tables), None)
        if name is None:
            continue
        if name not in names:
            names[name] = {info["name"] for info in inspector.get_columns(name)}
        if column.name in names[name]:
            located.append((name, column))
    if not names:
        return None
    return _sample(connection, located) if located else []


def read_or_create_keys(path: Path) -> list[str]:
    write_once(path, Fernet.generate_key().decode() + "\n")
    return parse_keys(path.read_text())


def write_keys(path: Path, keys: Iterable[str]) -> None:
    """Replace the key file atomically, so a crash never leaves it half written."""
    temporary = path.with_suffix(".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{key}\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def cipher() -> MultiFernet:
    return current_app.extensions[EXTENSION]


def encrypt(plain: bytes) -> bytes:
    return cipher().encrypt(plain)


def decrypt(token: bytes) -> bytes:
    try:
        return cipher().decrypt(token)
    except InvalidToken as error:
        raise UnreadableRecord from error


class EncryptedText(TypeDecorator[str]):
    """A text column whose stored value is a Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value.encode()).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value.encode("ascii")).decode()


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored as one Fernet token (in a text column)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return encrypt(json.dumps(value).encode()).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(decrypt(value.encode("ascii")))


class EncryptedBytes(TypeDecorator[bytes]):
    """Binary content (issued PDFs) stored as a Fernet token."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else decrypt(bytes(value))


ENCRYPTED_TYPES = (EncryptedText, EncryptedJSON, EncryptedBytes)


def reencrypt_all(connection: Connection, metadata: MetaData) -> int:
    """Re-encrypt every stored value under the first key; return how many values changed.

    Works on the stored tokens directly (MultiFernet.rotate), so nothing is decoded into text.
    """
    rotated = 0
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, ENCRYPTED_TYPES):
                rotated += _reencrypt_column(connection, table, column)
    return rotated


def _reencrypt_column(connection: Connection, table: Table, column: Column[Any]) -> int:
    binary = isinstance(column.type, EncryptedBytes)
    [key] = table.primary_key.columns
    raw = type_coerce(column, column.type.impl)
    rows = connection.execute(select(key, raw).where(column.is_not(None))).all()
    for row_id, token in rows:
        new = cipher().rotate(bytes(token) if binary else token.encode("ascii"))
        stored = new if binary else new.decode("ascii")
        connection.execute(
            update(table).where(key == row_id).values({column.name: type_coerce(stored, raw.type)})
        )
    return len(rows)
