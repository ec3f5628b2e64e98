"""A partner's answers to one instrument (intake, CSI-4, safety screen), and later changes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from counselor_app.encryption import EncryptedJSON, EncryptedText
from counselor_app.models.base import Base, portable_enum, utcnow
from counselor_app.models.couples import Couple, Partner


class ResponseStatus(enum.StrEnum):
    DRAFT = "draft"
    COMPLETE = "complete"


class Response(Base):
    """One partner's answers to one version of one instrument, kept as a draft until complete."""

    __tablename__ = "counselor_response"
    __table_args__ = (
        UniqueConstraint("partner_id", "instrument_id", name="uq_counselor_response_partner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_couple.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(ForeignKey("counselor_partner.id", ondelete="CASCADE"))
    instrument_id: Mapped[str] = mapped_column(String(40))
    instrument_version: Mapped[int]
    status: Mapped[ResponseStatus] = mapped_column(
        portable_enum(ResponseStatus, "response_status"), default=ResponseStatus.DRAFT
    )
    # item id -> answer (int for scales and hours, str for choices and free text).
    answers: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON(dict), default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]
    # The last time the partner saved answers here by their own link (None: never).
    partner_answered_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    couple: Mapped[Couple] = relationship()
    partner: Mapped[Partner] = relationship()
    changes: Mapped[list[ResponseChange]] = relationship(
        back_populates="response", order_by="ResponseChange.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_complete(self) -> bool:
        return self.status == ResponseStatus.COMPLETE


class ResponseChange(Base):
    """An answer changed after the response was marked complete: who, when, from what to what."""

    __tablename__ = "counselor_response_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_response.id", ondelete="CASCADE"), index=True
    )
    # Which answer changed (a safety item, say): as telling as the answer, so encrypted too.
    item_id: Mapped[str] = mapped_column(EncryptedText)
    old_value: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("counselor_therapist.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    response: Mapped[Response] = relationship(back_populates="changes")
