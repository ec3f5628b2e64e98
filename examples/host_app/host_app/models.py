"""The practice's own records: staff accounts, clients and the appointment book.

``Appointment`` (table ``appointment``) deliberately has the class and table name that
counselor_app's own model once had: mounted on this host's ``db``, the two must not clash.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db

CLINICIAN = "clinician"
RECEPTIONIST = "receptionist"


class User(UserMixin, db.Model):
    """A member of staff who signs in to the practice app."""

    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL
    __table_args__ = (CheckConstraint(f"role IN ('{CLINICIAN}', '{RECEPTIONIST}')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    # A practice admin manages staff; only a clinician is ever made one by the seed.
    is_admin: Mapped[bool] = mapped_column(default=False)

    def set_password(self, password: str) -> None:
        # HOST_PASSWORD_HASH: werkzeug's method; its default (scrypt) unless a test lowers it.
        self.password_hash = generate_password_hash(
            password, method=current_app.config.get("HOST_PASSWORD_HASH", "scrypt")
        )

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_clinician(self) -> bool:
        return self.role == CLINICIAN


class Client(db.Model):
    """A person the practice sees; the host's record, not counselor_app's partner."""

    __tablename__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))

    appointments: Mapped[list[Appointment]] = relationship(back_populates="client")


class Appointment(db.Model):
    """A booked slot in the practice's calendar."""

    __tablename__ = "appointment"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The practice's wall-clock time (one office, one time zone), as the front desk books it.
    starts_at: Mapped[datetime] = mapped_column(index=True)

    client: Mapped[Client] = relationship(back_populates="appointments")
    clinician: Mapped[User] = relationship()
