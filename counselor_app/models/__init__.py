"""Typed SQLAlchemy 2.0 models, one module per area; import them from here."""

from counselor_app.models.accounts import Therapist
from counselor_app.models.assessment import (
    Flag,
    FlagOrigin,
    FlagStatus,
    SafetyAlert,
    SafetyDecision,
    Severity,
)
from counselor_app.models.base import Base
from counselor_app.models.couples import Couple, CoupleStatus, Partner, RelationshipStage
from counselor_app.models.intake import Response, ResponseChange, ResponseStatus
from counselor_app.models.plans import (
    DocumentKind,
    IssuedDocument,
    PaperSize,
    Practice,
    SessionPlan,
    StrategyText,
)

__all__ = [
    "Base",
    "Couple",
    "CoupleStatus",
    "DocumentKind",
    "Flag",
    "FlagOrigin",
    "FlagStatus",
    "IssuedDocument",
    "PaperSize",
    "Partner",
    "Practice",
    "RelationshipStage",
    "Response",
    "ResponseChange",
    "ResponseStatus",
    "SafetyAlert",
    "SafetyDecision",
    "SessionPlan",
    "Severity",
    "StrategyText",
    "Therapist",
]
