"""Couples and their two partners."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from counselor_app.encryption import EncryptedText
from counselor_app.models.base import Base, portable_enum, utcnow

if TYPE_CHECKING:
    from counselor_app.models.accounts import Therapist


class RelationshipStage(enum.StrEnum):
    DATING = "dating"
    ENGAGED = "engaged"
    MARRIED = "married"
    COHABITING = "cohabiting"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class CoupleStatus(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Couple(Base):
    __tablename__ = "counselor_couple"
    # NULLs never collide (SQLite and PostgreSQL alike): any number of couples without one.
    __table_args__ = (
        UniqueConstraint("therapist_id", "external_id", name="uq_counselor_couple_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("counselor_therapist.id"), index=True)
    # The host app's own record of this couple (its client id, say), so the host can find it.
    external_id: Mapped[str | None] = mapped_column(String(200))
    relationship_stage: Mapped[RelationshipStage] = mapped_column(
        portable_enum(RelationshipStage, "relationship_stage")
    )
    relationship_length_months: Mapped[int | None]
    presenting_concerns: Mapped[str] = mapped_column(EncryptedText, default="")
    status: Mapped[CoupleStatus] = mapped_column(
        portable_enum(CoupleStatus, "couple_status"), default=CoupleStatus.ACTIVE, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Optimistic concurrency: an edit made from a stale page fails instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)

    therapist: Mapped[Therapist] = relationship(back_populates="couples")
    partners: Mapped[list[Partner]] = relationship(
        back_populates="couple", order_by="Partner.label", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def partner_a(self) -> Partner:
        return self.partners[0]

    @property
    def partner_b(self) -> Partner:
        return self.partners[1]

    @property
    def display_name(self) -> str:
        return " & ".join(partner.display_name for partner in self.partners)

    @property
    def relationship_length(self) -> str:
        """'3 years 2 months', as a therapist would say it."""
        if self.relationship_length_months is None:
            return "Not recorded"
        years, months = divmod(self.relationship_length_months, 12)
        parts = []
        if years:
            parts.append(f"{years} year{'s' if years != 1 else ''}")
        if months or not years:
            parts.append(f"{months} month{'s' if months != 1 else ''}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"<Couple {self.id}>"


class Partner(Base):
    __tablename__ = "counselor_partner"
    __table_args__ = (
        UniqueConstraint("couple_id", "label", name="uq_counselor_partner_couple_label"),
        CheckConstraint("label IN ('A', 'B')", name="label_a_or_b"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(1))
    display_name: Mapped[str] = mapped_column(String(80))
    pronouns: Mapped[str] = mapped_column(EncryptedText, default="")
    email: Mapped[str | None] = mapped_column(String(254))
    # The host app's own record of this person. Unique per therapist, which spans couples: the
    # services check that, so the database only indexes it for the look-up.
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)

    couple: Mapped[Couple] = relationship(back_populates="partners")

    def __repr__(self) -> str:
        return f"<Partner {self.id} {self.label}>"
