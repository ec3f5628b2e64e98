"""Challenge flags: the rules as data (``rules_v<N>.toml``) and the small engine that applies them.

Pure Python: no Flask or database import. Flags are suggestions for the therapist, each with
the answers that raised it; a safety alert is kept apart from them and is therapist-only.
"""

from counselor_app.flags.challenges import (
    CHALLENGES,
    SEVERITIES,
    STRATEGY_KEYS,
    Partner,
    Severity,
)
from counselor_app.flags.engine import (
    Evaluation,
    Evidence,
    NearMiss,
    Reading,
    RuleHit,
    SafetyAlert,
    SuggestedFlag,
    evaluate,
    evaluate_safety,
)
from counselor_app.flags.rules import (
    Rule,
    Ruleset,
    RulesetError,
    load_ruleset,
    parse_ruleset,
    ruleset_for_intake,
)

__all__ = [
    "CHALLENGES",
    "SEVERITIES",
    "STRATEGY_KEYS",
    "Evaluation",
    "Evidence",
    "NearMiss",
    "Partner",
    "Reading",
    "Rule",
    "RuleHit",
    "Ruleset",
    "RulesetError",
    "SafetyAlert",
    "Severity",
    "SuggestedFlag",
    "evaluate",
    "evaluate_safety",
    "load_ruleset",
    "parse_ruleset",
    "ruleset_for_intake",
]
