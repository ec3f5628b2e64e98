"""Writing and checking the audit trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, insert, select, text

from counselor_app.extensions import db
from counselor_app.models import AuditEvent
from counselor_app.models.base import as_utc, utcnow

GENESIS = "0" * 64
# Serialises writers on PostgreSQL so two requests never chain onto the same previous row.
CHAIN_LOCK = 715_309
# What each row's hash covers, besides the previous row's hash.
CHAINED_FIELDS = (
    "at",
    "therapist_id",
    "action",
    "object_type",
    "object_id",
    "couple_id",
    "endpoint",
    "address",
)


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    """The row's hash: SHA-256 of the previous hash and the row's fields as canonical JSON."""
    chained = {**fields, "at": as_utc(fields["at"]).isoformat()}
    body = prev_hash + json.dumps(chained, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _fields_of(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in CHAINED_FIELDS}


def record(
    action: str,
    *,
    therapist_id: int | None,
    object_type: str | None = None,
    object_id: int | None = None,
    couple_id: int | None = None,
    endpoint: str = "",
    address: str = "",
) -> None:
    """Append one event, chained to the last. The caller commits.

    A plain INSERT rather than an ORM object: every page view writes one, and the unit of
    work's bookkeeping cost more than the statement itself.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    last = db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    fields = {
        "at": utcnow().replace(microsecond=0),
        "therapist_id": therapist_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "couple_id": couple_id,
        "endpoint": endpoint[:80],
        "address": address[:45],
    }
    prev_hash = last or GENESIS
    db.session.execute(
        insert(AuditEvent).values(**fields, prev_hash=prev_hash, hash=_digest(prev_hash, fields))
    )


# Who did it, for a command run on the server: nobody signed in, so no therapist id.
OPERATOR = "operator (command line)"
COMMAND_PREFIX = "flask counselor "


def record_operator(
    action: str, command: str, *, object_type: str | None = None, object_id: int | None = None
) -> None:
    """Append an operator's command (``command``: "therapist set-password"), shown on the
    audit page with the command as its page and the operator as where it came from. Never
    its arguments: a password, an email or a path stays out. The caller commits."""
    record(
        action,
        therapist_id=None,
        object_type=object_type,
        object_id=object_id,
        endpoint=COMMAND_PREFIX + command,
        address=OPERATOR,
    )


@dataclass(frozen=True)
class Verification:
    checked: int
    broken_at: int | None  # the id of the first row that does not fit the chain
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify() -> Verification:
    """Walk the chain: an edited row fails its own hash, a deleted one its successor's link."""
    previous = GENESIS
    checked = 0
    for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if event.prev_hash != previous:
            return Verification(checked, event.id, "a row before it was removed or changed")
        if _digest(previous, _fields_of(event)) != event.hash:
            return Verification(checked, event.id, "the row was changed")
        previous = event.hash
        checked += 1
    return Verification(checked, None)


@dataclass(frozen=True)
class Filters:
    """What the audit page (and its CSV) is narrowed to; None is "any"."""

    therapist_id: int | None = None
    action: str | None = None
    couple_id: int | None = None
    since: datetime | None = None


def _matching(filters: Filters) -> Select[tuple[AuditEvent]]:
    """The events ``filters`` let through, newest first: one query for the page and the CSV,
    so the file holds exactly what the page lists."""
    query = select(AuditEvent)
    if filters.therapist_id is not None:
        query = query.where(AuditEvent.therapist_id == filters.therapist_id)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.couple_id is not None:
        query = query.where(AuditEvent.couple_id == filters.couple_id)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    return query.order_by(AuditEvent.id.desc())


def search(filters: Filters = Filters(), *, page: int = 1, per_page: int = 50) -> Pagination:
    return db.paginate(_matching(filters), page=page, per_page=per_page, error_out=False)


# Rows read from the database at a time while a CSV streams: the trail can be long.
BATCH = 1000


def every_match(filters: Filters) -> Iterator[AuditEvent]:
    """Every event ``filters`` let through, newest first, a batch at a time."""
    yield from db.session.scalars(_matching(filters).execution_options(yield_per=BATCH))
