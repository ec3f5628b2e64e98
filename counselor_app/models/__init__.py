"""Typed SQLAlchemy 2.0 models, one module per area; import them from here."""

from counselor_app.models.accounts import FormDraft, LoginFailure, Therapist
from counselor_app.models.appointments import (
    Appointment,
    AppointmentStatus,
    Attendance,
    CheckIn,
    FlagProgress,
    FlagStatusRecord,
    HomeworkOutcome,
    HomeworkReview,
    NoteAddendum,
    NoteStatus,
    PrivateNote,
    SessionNote,
)
from counselor_app.models.assessment import (
    Flag,
    FlagOrigin,
    FlagStatus,
    SafetyAlert,
    SafetyDecision,
    SafetyNotice,
    Severity,
)
from counselor_app.models.audit import AuditEvent
from counselor_app.models.base import Base
from counselor_app.models.couples import Couple, CoupleStatus, Partner, RelationshipStage
from counselor_app.models.intake import Response, ResponseChange, ResponseStatus
from counselor_app.models.invitations import Invitation, InvitationPurpose, InvitationState
from counselor_app.models.maintenance import MaintenanceFlag
from counselor_app.models.plans import (
    DocumentKind,
    IssuedDocument,
    PaperSize,
    Practice,
    SessionPlan,
    StrategyText,
)
from counselor_app.models.ratelimit import RateLimitCount

__all__ = [
    "Appointment",
    "AppointmentStatus",
    "Attendance",
    "AuditEvent",
    "Base",
    "CheckIn",
    "Couple",
    "CoupleStatus",
    "DocumentKind",
    "Flag",
    "FlagOrigin",
    "FlagProgress",
    "FlagStatus",
    "FlagStatusRecord",
    "FormDraft",
    "HomeworkOutcome",
    "HomeworkReview",
    "Invitation",
    "InvitationPurpose",
    "InvitationState",
    "IssuedDocument",
    "LoginFailure",
    "MaintenanceFlag",
    "NoteAddendum",
    "NoteStatus",
    "PaperSize",
    "Partner",
    "Practice",
    "PrivateNote",
    "RateLimitCount",
    "RelationshipStage",
    "Response",
    "ResponseChange",
    "ResponseStatus",
    "SafetyAlert",
    "SafetyDecision",
    "SafetyNotice",
    "SessionNote",
    "SessionPlan",
    "Severity",
    "StrategyText",
    "Therapist",
]
