"""Counters behind rate limits, in the database so every worker process counts the same."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from counselor_app.models.base import Base


class RateLimitCount(Base):
    """One fixed window of one limit for one key (the limit and the client address)."""

    __tablename__ = "counselor_rate_limit"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int]
    # Seconds since the epoch, as the `limits` library counts its windows.
    expires_at: Mapped[float] = mapped_column(index=True)
