"""The fixed vocabularies the flag rules are written in: challenges, strategies, severities.

These are code rather than data because other parts of the app (the strategy library, templates,
stored flags) key on them; a rule file may only use keys listed here, and the ruleset validator
enforces that at load.
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["low", "moderate", "high"]
Partner = Literal["A", "B"]

# Ordered from least to most serious: the order is used for sorting and for merging flags.
SEVERITIES: tuple[Severity, ...] = ("low", "moderate", "high")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}

# key → (therapist-facing title, one-line description). Wording is ours, after PRODUCT.md.
CHALLENGES: dict[str, tuple[str, str]] = {
    "codependency_fear": (
        "Fear of codependency",
        "Worry about leaning on the partner too much; little life outside the relationship.",
    ),
    "emotional_distance": (
        "Emotional distance",
        "Separate lives turning into distance, or a fear of growing apart.",
    ),
    "identity_loss": (
        "Fear of losing one's identity",
        "Worry that one's own self, interests or values are being absorbed by the couple.",
    ),
    "communication_gaps": (
        "Communication gaps",
        "Misunderstandings, expectations left unsaid, assumptions, not feeling heard.",
    ),
    "financial_tension": (
        "Financial tension",
        "Money decisions felt as unfair or opaque; conflict over spending and saving.",
    ),
    "family_social_expectations": (
        "Family and social expectations",
        "Relatives, in-laws or friends pressing on how the couple divides its time.",
    ),
    "societal_expectations": (
        "Societal and cultural expectations",
        "Norms of a culture or community pushing the couple toward one way of living.",
    ),
    "intimacy_difficulty": (
        "Difficulty with emotional intimacy",
        "Holding back or pulling away from closeness to avoid being hurt.",
    ),
    "mismatched_needs": (
        "Mismatched needs for closeness and space",
        "One partner seeks more closeness while the other seeks more room (pursue–withdraw).",
    ),
    "boundary_strain": (
        "Boundary strain",
        "Personal limits unstated or overridden, leaving resentment.",
    ),
    "quality_time_deficit": (
        "Too little quality time",
        "Little time together, or time together that does not feel connecting.",
    ),
    "decision_imbalance": (
        "Decision-making imbalance",
        "One partner tends to decide while the other goes along.",
    ),
}

# The strategy library (counselor_app/library) uses exactly these keys.
STRATEGY_KEYS: tuple[str, ...] = (
    "pursue_interests",
    "individual_goals",
    "separate_friendships",
    "boundaries",
    "me_time",
    "shared_activities",
    "quality_time",
    "gratitude",
    "support_goals",
    "share_feelings",
    "relationship_goals",
    "balance_checkins",
    "fair_finances",
    "decide_together",
    "family_boundaries",
    "self_reflection",
    "interdependence",
    "empathy_for_differences",
    "flexibility",
    "compromise",
    "reframe_space",
    "rituals_of_connection",
    "professional_support",
)
