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

from counselor_app.config import ConfigurationError, write_once

AUDIT_KEYS_FILE = "audit_keys"
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

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[0]

    def position(self, key_id: str) -> int | None:
        """0 for the newest key, higher for older ones; None for a key not in use."""
        return next((i for i, (kid, _) in enumerate(self.keys) if kid == key_id), None)

    def secret(self, position: int) -> bytes:
        return self.keys[position][1]


def parse(hex_keys: list[str]) -> AuditKeys:
    try:
        values = [bytes.fromhex(key.strip()) for key in hex_keys if key.strip()]
    except ValueError as error:
        raise AuditKeysError("An audit key is not hexadecimal (64 hex digits).") from error
    if not values or any(len(value) < KEY_BYTES for value in values):
        raise AuditKeysError(f"Each audit key must be {2 * KEY_BYTES} hex digits.")
    return AuditKeys(tuple((key_id_of(value), value) for value in values))


def keys_path(app: Flask) -> Path:
    return Path(app.instance_path) / AUDIT_KEYS_FILE


def new_key() -> str:
    return secrets.token_hex(KEY_BYTES)


def ensure_audit_keys(app: Flask) -> None:
    """Use the configured keys, else instance/audit_keys, else make and keep a first key."""
    configured = app.config.get("COUNSELOR_AUDIT_KEYS")
    if not configured:
        path = keys_path(app)
        write_once(path, new_key() + "\n")
        configured = path.read_text().splitlines()
    use_keys(app, configured)


def use_keys(app: Flask, hex_keys: list[str]) -> None:
    app.extensions[EXTENSION] = parse(hex_keys)


def configured_in_settings(app: Flask) -> bool:
    return bool(app.config.get("COUNSELOR_AUDIT_KEYS"))


def in_use(app: Flask | None = None) -> AuditKeys:
    """The keys of ``app``, by default the current one."""
    keys: AuditKeys = (app or current_app).extensions[EXTENSION]
    return keys
