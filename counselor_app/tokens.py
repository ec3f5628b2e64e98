"""Secrets that open something by themselves (a partner's link, a calendar feed): 256 random
bits, shown once, and stored only as a SHA-256, so a reader of the database opens nothing."""

from __future__ import annotations

import hashlib
import secrets

# 32 bytes: 256 bits, far above the 128 that guessing would need to be hopeless.
TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A new token and its hash: the token goes to its holder, the hash to the database."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def same_hash(stored: str, token: str) -> bool:
    return secrets.compare_digest(stored, hash_token(token))
