"""The keys that sign the audit trail: HMAC-SHA256 keys kept apart from the database.

Someone who can only write to the database cannot recompute a row's signature, so an edited
row shows even when every later row is recomputed. The keys live in ``instance/audit_keys``
(one per line, 64 hex digits, newest first: the first signs, all verify) or in the
``COUNSELOR_AUDIT_KEYS`` setting, like the data keys, and never in the database or its
backups. ``flask counselor audit rotate-key`` puts a new key first.

Each row names its key by an id derived from the key itself, so the id cannot point at a key
the file does not hold, and a row never falls back to an unkeyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from counselor_app.config import ConfigurationError, write_once

AUDIT_KEYS_FILE = "audit_keys"
TABLE = "counselor_audit_event"
NEWEST_KEY_ID = text("SELECT key_id FROM counselor_audit_event ORDER BY id DESC LIMIT 1")
EXTENSION = "counselor_audit_keys"
KEY_BYTES = 32


class AuditKeysError(ConfigurationError):
    """The audit keys cannot be used as configured: the app refuses to start (one line)."""


def key_id_of(secret: bytes) -> str:
    """A short name for ``secret`` that reveals nothing of it (an HMAC of a fixed label)."""
    return hmac.new(secret, b"counselor audit key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKeys:
    """The keys in use, newest first: ``(key id, secret)``."""

    keys: tuple[tuple[str, bytes], ...]
    # The key file's modification time when read (None: keys from the setting): a worker reads
    # the file again once `audit rotate-key` has replaced it.
    read_at: int | None = None

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[0]

    def position(self, key_id: str) -> int | None:
        """0 for the newest key, higher for older ones; None for a key not in use."""
        return next((i for i, (kid, _) in enumerate(self.keys) if kid == key_id), None)

    def secret(self, position: int) -> bytes:
        return self.keys[position][1]


def parse(hex_keys: list[str], read_at: int | None = None) -> AuditKeys:
    try:
        values = [bytes.fromhex(key.strip()) for key in hex_keys if key.strip()]
    except ValueError as error:
        raise AuditKeysError("An audit key is not hexadecimal (64 hex digits).") from error
    if not values or any(len(value) < KEY_BYTES for value in values):
        raise AuditKeysError(f"Each audit key must be {2 * KEY_BYTES} hex digits.")
    return AuditKeys(tuple((key_id_of(value), value) for value in values), read_at)


def keys_path(app: Flask) -> Path:
    return Path(app.instance_path) / AUDIT_KEYS_FILE


def new_key() -> str:
    return secrets.token_hex(KEY_BYTES)


def ensure_audit_keys(app: Flask, engine: Engine) -> None:
    """Use the configured keys, else instance/audit_keys, else make and keep a first key; but
    never a new key beside a trail signed under another (a lost or unmounted key file): the
    newest row's key must be among the keys in use, or AuditKeysError and nothing is written."""
    configured = app.config.get("COUNSELOR_AUDIT_KEYS")
    path = keys_path(app)
    if configured:
        use_keys(app, configured)  # a malformed key fails here, before any query
    elif path.is_file():
        use_key_file(app)
    have_keys = bool(configured) or path.is_file()
    try:
        newest = _newest_key_id(engine)
    except DBAPIError as error:
        if not have_keys:
            raise AuditKeysError(
                "No audit key is configured and the app cannot read the audit trail to check "
                "for one, so no new key was made; start again when the database answers, or "
                "set COUNSELOR_AUDIT_KEYS."
            ) from error
        return
    if not have_keys:
        if newest is not None:
            raise AuditKeysError(_missing_key(app, "no audit key is configured"))
        write_once(path, new_key() + "\n")
        use_key_file(app)
        return
    if newest is not None and in_use(app).position(newest) is None:
        raise AuditKeysError(_missing_key(app, "the audit keys in use did not sign it"))


def _newest_key_id(engine: Engine) -> str | None:
    """The key id of the trail's newest row; None for no trail yet (an empty database, or one
    from before the keyed chains)."""
    with engine.connect() as connection:
        found = inspect(connection)
        if not found.has_table(TABLE):
            return None
        if "key_id" not in {column["name"] for column in found.get_columns(TABLE)}:
            return None
        return connection.scalar(NEWEST_KEY_ID)


def _missing_key(app: Flask, why: str) -> str:
    return (
        f"The audit trail was signed under an audit key, but {why}: put back the audit_keys "
        f"file in the instance folder ({app.instance_path}) or set COUNSELOR_AUDIT_KEYS, "
        "newest first. No new key was made."
    )


def use_keys(app: Flask, hex_keys: list[str]) -> None:
    app.extensions[EXTENSION] = parse(hex_keys)


def use_key_file(app: Flask) -> None:
    path = keys_path(app)
    read_at = path.stat().st_mtime_ns
    app.extensions[EXTENSION] = parse(path.read_text().splitlines(), read_at)


def configured_in_settings(app: Flask) -> bool:
    return bool(app.config.get("COUNSELOR_AUDIT_KEYS"))


def in_use(app: Flask | None = None) -> AuditKeys:
    """The keys of ``app``, by default the current one; read again from the key file when it
    has changed since (a rotation while this worker runs)."""
    app = app or current_app
    keys: AuditKeys = app.extensions[EXTENSION]
    if keys.read_at is not None:
        try:
            changed = keys_path(app).stat().st_mtime_ns != keys.read_at
        except FileNotFoundError:
            changed = False  # moved away while running: keep what was read
        if changed:
            use_key_file(app)
            keys = app.extensions[EXTENSION]
    return keys
