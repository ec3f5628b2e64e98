"""Encryption at rest for clinical free text: column types that store only ciphertext.

Fernet (AES-128-CBC with an HMAC-SHA256 over the whole token) is authenticated: a ciphertext
altered in the database fails its check and is refused rather than shown. The keys live in
``instance/data_keys`` (one per line, the first encrypts, all decrypt), apart from the database
and its backups, or in the ``DATA_KEYS`` setting. ``flask data-keys rotate`` re-encrypts
every value under a new key; the README describes the procedure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import Column, Connection, LargeBinary, MetaData, Table, Text, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import type_coerce
from sqlalchemy.types import TypeDecorator

from counselor_app.config import write_once

DATA_KEYS_FILE = "data_keys"
EXTENSION = "counselor_cipher"


class UnreadableRecord(Exception):
    """A stored ciphertext failed its integrity check (altered, or made with an unknown key)."""


def parse_keys(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def keys_path(app: Flask) -> Path:
    return Path(app.instance_path) / DATA_KEYS_FILE


def ensure_data_keys(app: Flask) -> None:
    """Use the configured keys, else instance/data_keys, else make and keep a first key."""
    keys = app.config.get("COUNSELOR_DATA_KEYS") or read_or_create_keys(keys_path(app))
    app.extensions[EXTENSION] = MultiFernet([Fernet(key) for key in keys])


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
