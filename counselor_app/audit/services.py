"""Writing and checking the audit trail: one keyed chain per therapist, plus the practice's.

Each row's hash is an HMAC-SHA256, under the audit key (counselor_app.audit.keys), of the
previous row's hash in its chain and the row's own fields: without the key nobody can make an
edited row fit again. Deleting a chain's newest rows leaves a shorter chain that still fits;
the anchor (``flask counselor audit anchor``, kept outside the database) shows that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, insert, literal, select, text

from counselor_app.audit import keys
from counselor_app.extensions import db
from counselor_app.models import AuditEvent
from counselor_app.models.audit import PRACTICE_CHAIN
from counselor_app.models.base import as_utc, utcnow

GENESIS = "0" * 64
# With a chain's number, the PostgreSQL advisory lock that serialises the writers of that chain
# only (two int4 keys: a key space apart from one-bigint locks such as the upgrade's).
CHAIN_LOCKS = 715_309
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
    "chain",
    "key_id",
)


def signature(secret: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    """HMAC-SHA256 under ``secret`` of the previous hash and the fields as canonical JSON."""
    # In UTC whatever zone the database session hands timestamps back in.
    chained = {**fields, "at": as_utc(fields["at"]).astimezone(UTC).isoformat()}
    body = prev_hash + json.dumps(chained, sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _head(chain: int) -> Select[tuple[str]]:
    """The hash of ``chain``'s newest row."""
    return (
        select(AuditEvent.hash)
        .where(AuditEvent.chain == chain)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def record(
    action: str,
    *,
    therapist_id: int | None,
    object_type: str | None = None,
    object_id: int | None = None,
    couple_id: int | None = None,
    endpoint: str = "",
    address: str = "",
    chain: int | None = None,
) -> None:
    """Append one event to ``chain`` (by default the therapist's, else the practice's),
    chained to its last. The caller commits: the row belongs in the transaction of what it
    records.

    A plain INSERT rather than an ORM object: every page view writes one, and the unit of
    work's bookkeeping cost more than the statement itself.
    """
    if chain is None:
        chain = PRACTICE_CHAIN if therapist_id is None else therapist_id
    key_id, secret = keys.in_use().current
    fields = {
        "at": utcnow().replace(microsecond=0),
        "therapist_id": therapist_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "couple_id": couple_id,
        "endpoint": endpoint[:80],
        "address": address[:45],
        "chain": chain,
        "key_id": key_id,
    }
    if db.session.get_bind().dialect.name == "postgresql":
        _append_locked(chain, fields, secret)
    else:
        _append_if_still_last(chain, fields, secret)


def _append_locked(chain: int, fields: dict[str, Any], secret: bytes) -> None:
    """PostgreSQL: under the chain's own lock, held to the commit, so two writers never chain
    onto the same row, and writers of other chains never wait."""
    db.session.execute(
        text("SELECT pg_advisory_xact_lock(:space, :chain)"), {"space": CHAIN_LOCKS, "chain": chain}
    )
    prev_hash = db.session.scalar(_head(chain)) or GENESIS
    db.session.execute(
        insert(AuditEvent).values(
            **fields, prev_hash=prev_hash, hash=signature(secret, prev_hash, fields)
        )
    )


def _append_if_still_last(chain: int, fields: dict[str, Any], secret: bytes) -> None:
    """SQLite: the row goes in only if the chain still ends where it was read, checked by the
    INSERT itself, which holds the database's write lock (one writer at a time), so two
    processes never chain onto the same row; the lock is held no longer than the INSERT and
    the commit. When another process got in between, read again: the failed INSERT took the
    write lock, so the second try succeeds."""
    for _ in range(2):
        prev_hash = db.session.scalar(_head(chain)) or GENESIS
        values = {**fields, "prev_hash": prev_hash, "hash": signature(secret, prev_hash, fields)}
        columns = [AuditEvent.__table__.c[name] for name in values]
        still_last = func.coalesce(_head(chain).scalar_subquery(), GENESIS) == prev_hash
        appended = db.session.execute(
            insert(AuditEvent).from_select(
                list(values),
                select(*(literal(values[c.name], c.type) for c in columns)).where(still_last),
            )
        )
        if appended.rowcount:  # type: ignore[attr-defined]
            return
    raise RuntimeError("The audit row could not be appended to its chain.")


# Who did it, for a command run on the server: nobody signed in, so no therapist id.
OPERATOR = "operator (command line)"
COMMAND_PREFIX = "flask counselor "


def record_operator(
    action: str,
    command: str,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    chain: int = PRACTICE_CHAIN,
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
        chain=chain,
    )


def chains() -> list[int]:
    return list(db.session.scalars(select(AuditEvent.chain).distinct().order_by(AuditEvent.chain)))


def seal_chains() -> int:
    """After a new key is put first: one row under it at the end of every chain, so rows signed
    before cannot be rewritten with an older key, should one leak. The caller commits."""
    every = chains()
    for chain in every:
        record_operator("audit_key_rotate", "audit rotate-key", chain=chain)
    return len(every)


def chain_name(chain: int) -> str:
    return "the practice's chain" if chain == PRACTICE_CHAIN else f"therapist {chain}'s chain"


@dataclass(frozen=True)
class Break:
    """The first row of a chain that does not fit it (or the anchor)."""

    chain: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f" at event {self.event_id}" if self.event_id is not None else ""
        return f"{chain_name(self.chain)}{where}: {self.reason}"


@dataclass(frozen=True)
class Verification:
    checked: int
    chains: int
    breaks: tuple[Break, ...] = ()
    anchored: int = 0  # chain heads of the anchor found where it put them

    @property
    def ok(self) -> bool:
        return not self.breaks


@dataclass
class _Walk:
    """One chain as verify reads it."""

    previous: str = GENESIS
    oldest_allowed: int = 0  # the newest key seen so far: no row after it may use an older
    last_id: int | None = None
    broken: bool = False


# Rows read from the database at a time while a long table is walked or streamed.
BATCH = 1000


def verify(anchor: dict[str, Any] | None = None) -> Verification:
    """Walk every chain: an edited row fails its own signature (recomputed without the key, or
    with another, it still does), a deleted one its successor's link; a row under a key not in
    use, or under an older key than the row before it, is a break too. With ``anchor`` (made by
    ``anchor()`` earlier and kept outside the database), each chain must still hold the row it
    ended with then, unchanged: deleted newest rows show."""
    in_use = keys.in_use()
    walks: dict[int, _Walk] = {}
    breaks: list[Break] = []
    checked = 0
    columns = [getattr(AuditEvent, name) for name in ("id", *CHAINED_FIELDS, "prev_hash", "hash")]
    rows = db.session.execute(
        select(*columns)
        .order_by(AuditEvent.chain, AuditEvent.id)
        .execution_options(yield_per=BATCH)
    )
    for row in rows:
        walk = walks.setdefault(row.chain, _Walk(oldest_allowed=len(in_use.keys)))
        walk.last_id = row.id
        if walk.broken:
            continue
        if problem := _misfit(row, walk, in_use):
            walk.broken = True
            breaks.append(Break(row.chain, row.id, problem))
            continue
        walk.previous = row.hash
        checked += 1
    anchored = 0
    if anchor is not None:
        anchor_breaks = list(_against_anchor(anchor, walks))
        anchored = len(anchor["chains"]) - len(anchor_breaks)
        breaks += anchor_breaks
    return Verification(checked, len(walks), tuple(breaks), anchored)


def _misfit(row: Any, walk: _Walk, in_use: keys.AuditKeys) -> str:
    """Why ``row`` does not fit its chain so far; "" when it does."""
    position = in_use.position(row.key_id)
    if position is None:
        return (
            f"it was signed with audit key {row.key_id}, which is not among the audit keys in "
            "use: put back the audit_keys file (or COUNSELOR_AUDIT_KEYS) that holds it"
        )
    if position > walk.oldest_allowed:
        return "it was signed with an older audit key than the row before it"
    walk.oldest_allowed = position
    if row.prev_hash != walk.previous:
        return "a row before it was removed or changed"
    fields = {name: getattr(row, name) for name in CHAINED_FIELDS}
    if not hmac.compare_digest(signature(in_use.secret(position), walk.previous, fields), row.hash):
        return "the row was changed"
    return ""


def _against_anchor(anchor: dict[str, Any], walks: dict[int, _Walk]) -> Iterator[Break]:
    heads = {entry["chain"]: entry for entry in anchor["chains"]}
    found = {
        row.id: row
        for row in db.session.execute(
            select(AuditEvent.id, AuditEvent.chain, AuditEvent.hash).where(
                AuditEvent.id.in_([entry["last_id"] for entry in heads.values()])
            )
        )
    }
    for chain, entry in sorted(heads.items()):
        last_id = entry["last_id"]
        row = found.get(last_id)
        if row is not None and row.chain == chain and row.hash == entry["hash"]:
            continue
        ends = walks[chain].last_id if chain in walks else None
        if row is None and (ends is None or ends < last_id):
            now = f"now ends at event {ends}" if ends is not None else "now has no events"
            yield Break(
                chain,
                None,
                f"it {now}, before event {last_id} where the anchor left it: its "
                "newest events were deleted",
            )
        else:
            yield Break(chain, last_id, "the event differs from the anchor (changed or removed)")


def anchor() -> dict[str, Any]:
    """Every chain's newest row (id, hash, time): to keep where the database cannot rewrite it
    (an external log, another machine), for ``verify(anchor)`` later."""
    newest = (
        select(AuditEvent.chain, func.max(AuditEvent.id).label("last_id"))
        .group_by(AuditEvent.chain)
        .subquery()
    )
    heads = db.session.execute(
        select(AuditEvent.chain, AuditEvent.id, AuditEvent.hash, AuditEvent.at)
        .join(newest, AuditEvent.id == newest.c.last_id)
        .order_by(AuditEvent.chain)
    )
    return {
        "made_at": utcnow().replace(microsecond=0).isoformat(),
        "chains": [
            {
                "chain": head.chain,
                "last_id": head.id,
                "hash": head.hash,
                "at": as_utc(head.at).isoformat(),
            }
            for head in heads
        ],
    }


class AnchorError(ValueError):
    """The anchor file is not one ``anchor()`` made."""


def read_anchor(content: str) -> dict[str, Any]:
    """The anchor in ``content``, its entries checked for the fields verify reads."""
    try:
        anchor = json.loads(content)
        anchor["chains"] = [
            {"chain": int(e["chain"]), "last_id": int(e["last_id"]), "hash": str(e["hash"])}
            for e in anchor["chains"]
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise AnchorError("This is not an audit anchor (made by `audit anchor`).") from error
    return anchor


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


def every_match(filters: Filters) -> Iterator[AuditEvent]:
    """Every event ``filters`` let through, newest first, a batch at a time."""
    yield from db.session.scalars(_matching(filters).execution_options(yield_per=BATCH))
