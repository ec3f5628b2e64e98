"""Typed SQLAlchemy 2.0 models, one module per area; import them from here."""

from counselor_app.models.accounts import Therapist
from counselor_app.models.base import Base
from counselor_app.models.couples import Couple, CoupleStatus, Partner, RelationshipStage

__all__ = ["Base", "Couple", "CoupleStatus", "Partner", "RelationshipStage", "Therapist"]
