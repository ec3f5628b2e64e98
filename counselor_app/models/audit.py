"""The audit trail: who did what to which record, when and from where. Ids and actions only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from counselor_app.models.base import Base, utcnow


class AuditEvent(Base):
    """Append-only. Each row's hash covers its fields and the previous row's hash, so an edited
    or deleted row breaks the chain (``flask audit verify``). Never holds clinical text."""

    __tablename__ = "counselor_audit_event"

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
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
