"""The maintenance flag: while its row exists, our pages answer 503 (counselor_app.operations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from counselor_app.models.base import Base


class MaintenanceFlag(Base):
    """Raised by ``flask counselor db upgrade`` before it migrates, removed when it is done.

    One row at most (id 1): a second upgrade's insert fails, so two never run at once.
    """

    __tablename__ = "counselor_maintenance"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What raised it ("upgrade"), and where: the host and process id of the command.
    reason: Mapped[str] = mapped_column(String(40))
    raised_by: Mapped[str] = mapped_column(String(200))
    raised_at: Mapped[datetime]
