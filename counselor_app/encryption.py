"""Encryption at rest for clinical values: column types that store only ciphertext.

Fernet (AES-128-CBC with an HMAC-SHA256 over the whole token) is authenticated: a ciphertext
altered in the database fails its check and is never shown. It reads as an unreadable marker
instead (see ``Unreadable``), so the rest of its record and page still work; the log names the
table, column and row id. Binary content (a PDF) and any change to an unreadable value are
refused with UnreadableRecord. The keys live in
``instance/data_keys`` (one per line, the first encrypts, all decrypt), apart from the database
and its backups, or in the ``COUNSELOR_DATA_KEYS`` setting. ``flask counselor data-keys
rotate`` re-encrypts every value under a new key; the README describes the procedure.

At start the keys are checked against a sample of the stored ciphertext (one value per
encrypted column): the app refuses to start (DataKeysError) rather than make a new key beside
data it cannot open, or run with keys that open nothing.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from collections.abc import Callable, Iterable
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
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapper, QueryContext, attributes
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


UNREADABLE_TEXT = "[unreadable — restore from backup]"


class UnreadableValue:
    """What a stored value that failed its integrity check reads as: never its content."""

    def __html__(self) -> str:
        return UNREADABLE_TEXT


class Unreadable(UnreadableValue, str):
    """A text, number or enum value that failed its check: reads as the marker text, and as an
    enum member would in templates and exports (value and label are the marker, rank sorts it
    last), so a page shows the rest of the record."""

    def __new__(cls) -> Unreadable:
        return super().__new__(cls, UNREADABLE_TEXT)

    @property
    def value(self) -> str:
        return UNREADABLE_TEXT

    label = value
    rank = 0


class UnreadableList(UnreadableValue, list[Any]):
    """A JSON list that failed its check: empty, so code that walks it shows nothing of it."""


class UnreadableDict(UnreadableValue, dict[str, Any]):
    """A JSON object that failed its check: empty, so code that reads it finds no answers."""


def is_unreadable(value: object) -> bool:
    return isinstance(value, UnreadableValue)


def require_readable(*values: object) -> None:
    """Refuse work that would compute from, or store over, a value that failed its check (a
    score from answers that read as empty, say): the altered ciphertext stays for investigation."""
    if any(is_unreadable(value) for value in values):
        raise UnreadableRecord


def log_unreadable(table: str, column: str, row_id: object) -> None:
    # Where to look, never what was there.
    logger.error(
        "An encrypted value failed its integrity check: %s.%s in row id %s", table, column, row_id
    )


class _Encrypted(TypeDecorator[Any]):
    """Encrypts what ``dump`` makes of a value; ``load`` makes it back from the plain bytes.
    A token that fails its check reads as ``unreadable()``."""

    impl = Text
    cache_ok = True

    def dump(self, value: Any) -> bytes:
        raise NotImplementedError

    def load(self, plain: bytes) -> Any:
        raise NotImplementedError

    def unreadable(self) -> UnreadableValue:
        return Unreadable()

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        require_readable(value)  # a marker is never stored in place of the altered token
        return encrypt(self.dump(value)).decode("ascii")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        try:
            return self.load(decrypt(value.encode("ascii")))
        except UnreadableRecord:
            return self.unreadable()


class EncryptedText(_Encrypted):
    """A text column whose stored value is a Fernet token."""

    cache_ok = True  # SQLAlchemy asks each subclass

    def dump(self, value: str) -> bytes:
        return value.encode()

    def load(self, plain: bytes) -> str:
        return plain.decode()


class EncryptedJSON(_Encrypted):
    """A JSON document stored as one Fernet token (in a text column). ``shape`` (dict or list)
    is what an unreadable one reads as: an empty container of that kind, marked."""

    cache_ok = True  # SQLAlchemy asks each subclass

    def __init__(self, shape: type[dict[str, Any]] | type[list[Any]] | None = None) -> None:
        super().__init__()
        self.shape = shape

    def dump(self, value: Any) -> bytes:
        return json.dumps(value).encode()

    def load(self, plain: bytes) -> Any:
        return json.loads(plain)

    def unreadable(self) -> UnreadableValue:
        return {dict: UnreadableDict, list: UnreadableList}.get(self.shape, Unreadable)()


class EncryptedInteger(_Encrypted):
    """A score tied to a person, stored as a Fernet token of its decimal digits."""

    cache_ok = True  # SQLAlchemy asks each subclass

    def dump(self, value: int) -> bytes:
        return str(int(value)).encode()

    def load(self, plain: bytes) -> int:
        return int(plain)


class EncryptedEnum(_Encrypted):
    """An enum member (a severity, an outcome), stored as a Fernet token of its value."""

    cache_ok = True  # SQLAlchemy asks each subclass

    def __init__(self, enum_class: type[enum.Enum]) -> None:
        super().__init__()
        self.enum_class = enum_class

    def dump(self, value: enum.Enum | str) -> bytes:
        return str(self.enum_class(value).value).encode()

    def load(self, plain: bytes) -> enum.Enum:
        return self.enum_class(plain.decode())


class EncryptedBytes(TypeDecorator[bytes]):
    """Binary content (issued PDFs) stored as a Fernet token. Nothing of an altered one can be
    shown, so reading it raises UnreadableRecord."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else decrypt(bytes(value))


ENCRYPTED_TYPES = (_Encrypted, EncryptedBytes)


def watch_unreadable(base: type) -> None:
    """On ``base``'s mapped classes: log each unreadable value loaded (table, column, row id),
    and refuse to replace one (UnreadableRecord), so the altered token stays until a restore."""

    def on_load(target: Any, context: QueryContext, attrs: Iterable[str] | None = None) -> None:
        state = attributes.instance_state(target)
        for attr in state.mapper.column_attrs:
            if (attrs is None or attr.key in attrs) and is_unreadable(state.dict.get(attr.key)):
                [column] = attr.columns
                row_id = state.identity[0] if state.identity else None
                log_unreadable(column.table.name, column.name, row_id)

    def guard_writes(mapper: Mapper[Any], cls: type) -> None:
        for attr in mapper.column_attrs:
            if any(isinstance(column.type, _Encrypted) for column in attr.columns):
                event.listen(getattr(cls, attr.key), "set", _refuse_overwrite, active_history=True)

    event.listen(base, "load", on_load, propagate=True)
    event.listen(base, "refresh", on_load, propagate=True)
    event.listen(base, "mapper_configured", guard_writes, propagate=True)


def _refuse_overwrite(target: Any, value: Any, old: Any, initiator: Any) -> Any:
    require_readable(old)
    return value


def shown(value: Any, convert: Callable[[Any], Any] = lambda value: value) -> Any:
    """``convert(value)`` for an export, or the marker text in place of an unreadable value (a
    list or object would export as an empty one)."""
    return UNREADABLE_TEXT if is_unreadable(value) else convert(value)


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
