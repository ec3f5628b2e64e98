"""Therapist accounts."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from counselor_app.encryption import EncryptedJSON
from counselor_app.models.base import Base, utcnow

if TYPE_CHECKING:
    from counselor_app.models.couples import Couple


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


class Therapist(UserMixin, Base):
    __tablename__ = "counselor_therapist"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Mounted with the host's sign-in: the host's stable user id, which provisions this
    # therapist on first sign-in and finds them after. None for our own accounts.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # The session cookie names this token, not the primary key: rotating it on logout or
    # deactivation makes every copy of an old cookie worthless.
    login_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_login_token)
    # The private calendar feed's link: only the SHA-256 of its token, so a database reader
    # cannot subscribe to anyone's appointments. None: no feed (never made, or revoked).
    calendar_feed_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    couples: Mapped[list[Couple]] = relationship(back_populates="therapist")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(
            password, method=current_app.config["COUNSELOR_PASSWORD_HASH"]
        )

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def rotate_login_token(self) -> None:
        self.login_token = new_login_token()

    def get_id(self) -> str:
        return self.login_token

    @property
    def is_active(self) -> bool:
        return self.active

    def __repr__(self) -> str:
        return f"<Therapist {self.id}>"


class LoginFailure(Base):
    """A failed sign-in, kept briefly to throttle guessing. Stored in the database, so every
    worker process counts the same failures."""

    __tablename__ = "counselor_login_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the normalised email: counts failures per account without keeping what was typed.
    account: Mapped[str] = mapped_column(String(64), index=True)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class FormDraft(Base):
    """What a therapist sent from a form after their session had run out, kept (encrypted) so
    the page can give it back once they have signed in again. One per therapist and page."""

    __tablename__ = "counselor_form_draft"
    __table_args__ = (UniqueConstraint("therapist_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(
        ForeignKey("counselor_therapist.id", ondelete="CASCADE")
    )
    path: Mapped[str] = mapped_column(String(300))
    # [name, value] pairs in the order sent: a multi-valued field keeps every value.
    fields: Mapped[list[Any]] = mapped_column(EncryptedJSON(list))
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
