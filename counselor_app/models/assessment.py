"""Challenge flags (suggested by the rules or added by hand) and the therapist's decisions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from counselor_app.encryption import EncryptedEnum, EncryptedJSON, EncryptedText
from counselor_app.models.accounts import Therapist
from counselor_app.models.base import Base, portable_enum, utcnow
from counselor_app.models.couples import Couple


class FlagStatus(enum.StrEnum):
    SUGGESTED = "suggested"  # raised by the rules, not yet reviewed
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class FlagOrigin(enum.StrEnum):
    RULES = "rules"
    THERAPIST = "therapist"


class Severity(enum.StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return {"low": 1, "moderate": 2, "high": 3}[self.value]


class Flag(Base):
    """One challenge for one couple: the rules' latest suggestion plus the therapist's decision.

    Re-scoring rewrites the suggestion columns only; status, note, reason and who decided stay,
    because clinical judgement always wins over the rules.
    """

    __tablename__ = "counselor_flag"
    __table_args__ = (
        UniqueConstraint("couple_id", "challenge_key", name="uq_counselor_flag_couple_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    challenge_key: Mapped[str] = mapped_column(String(40))
    origin: Mapped[FlagOrigin] = mapped_column(portable_enum(FlagOrigin, "flag_origin"))
    status: Mapped[FlagStatus] = mapped_column(
        portable_enum(FlagStatus, "flag_status"), default=FlagStatus.SUGGESTED
    )
    # Which partner it concerns and how severe: derived from their answers, so encrypted.
    severity: Mapped[Severity] = mapped_column(EncryptedEnum(Severity))
    partners: Mapped[str] = mapped_column(EncryptedText)  # "A", "B" or "AB"
    # The suggestion as the rules last made it (empty for a flag added by hand): each
    # partner's answers behind it, and the rules' hits with their scores.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON(list), default=list)
    hits: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON(list), default=list)
    strategies: Mapped[list[str]] = mapped_column(JSON, default=list)
    ruleset_version: Mapped[int | None]
    # False once the current answers no longer raise it; kept for its decision and history.
    currently_suggested: Mapped[bool] = mapped_column(default=True)
    suggested_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(EncryptedText, default="")
    dismiss_reason: Mapped[str] = mapped_column(EncryptedText, default="")
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("counselor_therapist.id"))
    # The severity the therapist saw when deciding, to point out a later change by the rules.
    decided_severity: Mapped[Severity | None] = mapped_column(EncryptedEnum(Severity))
    version: Mapped[int] = mapped_column(default=1)

    couple: Mapped[Couple] = relationship()
    decided_by: Mapped[Therapist | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def partners_label(self) -> str:
        return partners_label(self.partners)


def partners_label(partners: str) -> str:
    return "Both partners" if len(partners) == 2 else f"Partner {partners}"


class SafetyDecision(enum.StrEnum):
    JOINT_WORK_CAN_CONTINUE = "joint_ok"
    INDIVIDUAL_SESSIONS_FIRST = "individual_first"
    REFERRED = "referred"

    @property
    def label(self) -> str:
        return {
            "joint_ok": "Assessed: joint work can continue, with a safety plan",
            "individual_first": "Individual sessions before any joint work",
            "referred": "Referred to specialist support; joint work paused",
        }[self.value]


class SafetyAlert(Base):
    """A positive safety screen. Therapist-only: never in an export to or a handout for clients.

    While ``decision`` is empty the alert is open, and joint handouts are refused.
    """

    __tablename__ = "counselor_safety_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), unique=True
    )
    # Who disclosed what on the safety screen: partner labels, and item ids per partner.
    partners: Mapped[str] = mapped_column(EncryptedText)
    positive_items: Mapped[dict[str, list[str]]] = mapped_column(EncryptedJSON(dict), default=dict)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision: Mapped[SafetyDecision | None] = mapped_column(
        portable_enum(SafetyDecision, "safety_decision")
    )
    decision_note: Mapped[str] = mapped_column(EncryptedText, default="")
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("counselor_therapist.id"))
    version: Mapped[int] = mapped_column(default=1)

    couple: Mapped[Couple] = relationship()
    decided_by: Mapped[Therapist | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.decision is None

    @property
    def partners_label(self) -> str:
        return partners_label(self.partners)
