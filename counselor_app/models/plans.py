"""Practice settings, strategy texts of a therapist, session plans and issued documents."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from counselor_app.encryption import EncryptedBytes, EncryptedJSON, EncryptedText
from counselor_app.models.accounts import Therapist
from counselor_app.models.base import Base, portable_enum, utcnow
from counselor_app.models.couples import Couple


class PaperSize(enum.StrEnum):
    A4 = "a4"
    LETTER = "letter"

    @property
    def label(self) -> str:
        return {"a4": "A4 (210 × 297 mm)", "letter": "US Letter (8.5 × 11 in)"}[self.value]


class Practice(Base):
    """The practice's own settings (one row): what documents say about who issued them."""

    __tablename__ = "counselor_practice"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    # Shown to partners on their own pages and printed slips: how to reach the practice, and
    # where to turn at once when they are not safe.
    contact_line: Mapped[str] = mapped_column(String(200), default="")
    crisis_line: Mapped[str] = mapped_column(String(200), default="")
    paper_size: Mapped[PaperSize] = mapped_column(
        portable_enum(PaperSize, "paper_size"), default=PaperSize.A4
    )
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class StrategyText(Base):
    """A therapist's own strategy, or their wording of a shipped one (the shipped text stays)."""

    __tablename__ = "counselor_strategy_text"
    __table_args__ = (
        UniqueConstraint("therapist_id", "key", name="uq_counselor_strategy_text_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_therapist.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(60))
    is_custom: Mapped[bool] = mapped_column(default=False)  # False: overrides a shipped strategy
    title: Mapped[str] = mapped_column(String(160))
    challenges: Mapped[list[str]] = mapped_column(JSON, default=list)
    minutes: Mapped[int] = mapped_column(default=15)
    therapist_guidance: Mapped[str] = mapped_column(Text, default="")
    client_explanation: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    homework: Mapped[str] = mapped_column(Text, default="")
    reflection_questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class SessionPlan(Base):
    """What the therapist means to do in one session, and what the couple takes home."""

    __tablename__ = "counselor_session_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    session_date: Mapped[date]
    goals: Mapped[str] = mapped_column(EncryptedText, default="")
    # [{"part": "check_in", "minutes": 5, "notes": ""}, ...] in session order.
    agenda: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON(list), default=list)
    focus_flag_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    strategy_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"strategy_key": "quality_time" or None, "text": "..."}, ...]
    homework: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON(list), default=list)
    private_notes: Mapped[str] = mapped_column(EncryptedText, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("counselor_therapist.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    couple: Mapped[Couple] = relationship()
    created_by: Mapped[Therapist] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def total_minutes(self) -> int:
        return sum(int(part.get("minutes") or 0) for part in self.agenda)


class DocumentKind(enum.StrEnum):
    SESSION_PLAN = "session_plan"
    HANDOUT = "handout"
    PROGRESS_REPORT = "progress_report"  # the therapist's record
    PROGRESS_SUMMARY = "progress_summary"  # one partner's own trends and homework

    @property
    def label(self) -> str:
        return {
            "session_plan": "Session plan",
            "handout": "Client handout",
            "progress_report": "Progress report",
            "progress_summary": "Progress summary for one partner",
        }[self.value]


class IssuedDocument(Base):
    """A PDF exactly as it was given to someone: bytes and hash never change once stored."""

    __tablename__ = "counselor_issued_document"
    __table_args__ = (
        UniqueConstraint(
            "couple_id", "series", "kind", "number", name="uq_counselor_issued_document_number"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("counselor_session_plan.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[DocumentKind] = mapped_column(portable_enum(DocumentKind, "document_kind"))
    # What the numbering runs over: "plan-<id>" for a plan's documents, "couple" for reports.
    # (Not plan_id: NULLs never collide in a unique constraint, so numbers could repeat.)
    series: Mapped[str] = mapped_column(String(40))
    number: Mapped[int]  # 1, 2, ... per series and kind: "version 2 of this handout"
    # SHA-256 of the HTML it was rendered from: an unchanged document is not issued twice.
    source_digest: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(160))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    # Deferred: lists of documents must not drag every PDF's bytes out of the database.
    content: Mapped[bytes] = deferred(mapped_column(EncryptedBytes, nullable=False))
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("counselor_therapist.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)

    issued_by: Mapped[Therapist] = relationship()
