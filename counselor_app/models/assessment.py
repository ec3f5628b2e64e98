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

    @property
    def borderline(self) -> bool:
        """Raised only by results within the borderline margin of a threshold: one answer
        either way could undo it (hits stored before rules v2 have no such mark)."""
        return bool(self.hits) and all(hit.get("borderline") for hit in self.hits)


def partners_label(partners: str) -> str:
    return "Both partners" if len(partners) == 2 else f"Partner {partners}"


class SafetyDecision(enum.StrEnum):
    """What the therapist decided about joint work after a positive screen. Only the first lets
    couple-facing (joint) documents be made; the others hold them, and say why."""

    JOINT_WORK_CAN_CONTINUE = "joint_ok"
    INDIVIDUAL_SESSIONS_FIRST = "individual_first"
    REFERRED = "referred"

    @property
    def label(self) -> str:
        return {
            "joint_ok": "Joint work may continue, with the safety plan noted",
            "individual_first": "Individual sessions before any joint work",
            "referred": "Referred to specialist support; joint work paused",
        }[self.value]

    @property
    def releases_joint_work(self) -> bool:
        return self is SafetyDecision.JOINT_WORK_CAN_CONTINUE

    @property
    def held_reason(self) -> str:
        """Why joint documents are held under this decision, and what would release them."""
        change = (
            'change the decision on the assessment page to "joint work may continue" and '
            "note the safety plan."
        )
        return {
            "joint_ok": "",
            "individual_first": "Your safety decision is individual sessions before any joint "
            f"work, so nothing for the couple together is made. Once joint work is safe, {change}",
            "referred": "Your safety decision is a referral to specialist support with joint "
            f"work paused, so nothing for the couple together is made. If joint work resumes, "
            f"{change}",
        }[self.value]


class SafetyAlert(Base):
    """A positive safety screen. Therapist-only: never in an export to or a handout for clients.

    While ``decision`` is empty the alert is open; joint handouts are refused until the
    decision is that joint work may continue.
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


class SafetyNotice(Base):
    """ "Read before joint work": a partner wrote in the safety screen's private note.

    Not a positive screen: no decision is asked for, only that the therapist reads the note and
    says so. Until then joint handouts are held. ``notes`` keeps each partner's note as last
    written (a note later emptied stays on record); a changed note reopens the notice, since
    the acknowledgement was for the words read. Therapist-only, like the alert.
    """

    __tablename__ = "counselor_safety_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), unique=True
    )
    partners: Mapped[str] = mapped_column(EncryptedText)  # who wrote a note: "A", "B", "AB"
    notes: Mapped[dict[str, str]] = mapped_column(EncryptedJSON(dict), default=dict)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("counselor_therapist.id"))
    version: Mapped[int] = mapped_column(default=1)

    couple: Mapped[Couple] = relationship()
    acknowledged_by: Mapped[Therapist | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    @property
    def partners_label(self) -> str:
        return partners_label(self.partners)
