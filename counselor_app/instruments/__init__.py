"""Questionnaires and measures as versioned data (TOML beside this file), with their scoring.

Pure Python: no Flask or database import, so forms, services, reports and tests share it.
"""

from counselor_app.instruments.model import (
    AnswerError,
    Instrument,
    Item,
    Option,
    Scoring,
    Section,
    missing_required,
    validate_answer,
    validate_answers,
)
from counselor_app.instruments.registry import (
    BALANCE_ID,
    CSI4_ID,
    INTAKE_ID,
    SAFETY_ID,
    InstrumentError,
    available,
    load,
)
from counselor_app.instruments.scoring import (
    BalanceScore,
    Csi4Score,
    DomainComparison,
    SafetyScreen,
    compare_partners,
    score_balance,
    score_csi4,
    score_intake,
    screen_safety,
)

__all__ = [
    "BALANCE_ID",
    "CSI4_ID",
    "INTAKE_ID",
    "SAFETY_ID",
    "AnswerError",
    "BalanceScore",
    "Csi4Score",
    "DomainComparison",
    "Instrument",
    "InstrumentError",
    "Item",
    "Option",
    "SafetyScreen",
    "Scoring",
    "Section",
    "available",
    "compare_partners",
    "load",
    "missing_required",
    "score_balance",
    "score_csi4",
    "score_intake",
    "screen_safety",
    "validate_answer",
    "validate_answers",
]
