"""The audit trail: who did what to which record, when and from where. Ids and actions only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from counselor_app.models.base import Base, utcnow

# The chain of events that are the practice's rather than one therapist's: operator commands,
# setup, sign-in attempts for no known account.
PRACTICE_CHAIN = 0


class AuditEvent(Base):
    """Append-only. Each therapist's events form one chain (and the practice's one more): each
    row's HMAC covers its fields and the previous row's, under a key kept outside the database,
    so an edited or deleted row breaks its chain (``flask counselor audit verify``), and an
    anchor kept elsewhere shows deleted newest rows. Never holds clinical text."""

    __tablename__ = "counselor_audit_event"
    # A chain's newest row, read under the chain's lock for every event written.
    __table_args__ = (Index("ix_counselor_audit_event_chain_id", "chain", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # No foreign keys: the trail must outlive the rows it speaks of (an erased couple, say).
    therapist_id: Mapped[int | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(30), index=True)
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[int | None]
    couple_id: Mapped[int | None] = mapped_column(index=True)
    endpoint: Mapped[str] = mapped_column(String(80), default="")
    address: Mapped[str] = mapped_column(String(45), default="")
    # The therapist whose chain the row is on (a partner's visit: their couple's therapist's),
    # or PRACTICE_CHAIN.
    chain: Mapped[int] = mapped_column(default=PRACTICE_CHAIN)
    # Which audit key signed the row (counselor_app.audit.keys.key_id_of).
    key_id: Mapped[str] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
