"""Scoring for the four instruments, and the partner-by-partner comparison.

Pure functions over a mapping of item id → answer. Answers are validated first, so a score is
never computed from a value the instrument does not allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import ceil
from typing import Literal

from counselor_app.instruments import registry
from counselor_app.instruments.model import AnswerValue, Instrument, Item, validate_answers

# Thresholds for reading two partners' 0–100 domain scores side by side (all domains are oriented
# high = healthy). On the 1–5 agreement scale one step is 25 points, so:
# - 70 is a mean answer of 3.8, i.e. "agree" on average: both at or above it is a shared strength.
STRENGTH_MIN = 70.0
# - 40 is a mean answer of 2.6, leaning to "disagree": either partner at or below it is worth work.
GROWTH_MAX = 40.0
# - A gap under 15 (less than a single answer step on average) is agreement; under 30 (up to
#   about one step) the partners differ; 30 or more they see the domain from far apart.
AGREE_GAP = 15.0
FAR_GAP = 30.0

Agreement = Literal["agree", "differ", "far apart", "incomplete"]


def healthy_value(item: Item, value: int) -> int:
    """The answer on the 1–5 scale oriented so that 5 is healthiest (reverse items flipped)."""
    low, high = _likert_bounds(item)
    return low + high - value if item.reverse else value


def concern_value(item: Item, value: int) -> int:
    """The answer oriented the other way: 5 = most concern. The flag rules read this."""
    low, high = _likert_bounds(item)
    return low + high - healthy_value(item, value)


def _likert_bounds(item: Item) -> tuple[int, int]:
    values = [int(opt.value) for opt in item.options]
    return min(values), max(values)


def score_intake(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, float | None]:
    """Domain → 0–100 score (high = healthy), or None when under half its items are answered.

    A mean of too few items would swing on one answer and mislead a side-by-side comparison.
    """
    clean = validate_answers(instrument, answers)
    return {
        domain: _domain_score(instrument.domain_items(domain), clean, instrument)
        for domain in instrument.domains
    }


def _domain_score(
    items: tuple[Item, ...], clean: Mapping[str, AnswerValue], instrument: Instrument
) -> float | None:
    values = [
        healthy_value(item, int(clean[item.id]))
        for item in items
        if item.kind == "likert" and item.id in clean
    ]
    needed = ceil(len(items) * instrument.scoring.min_fraction)
    if not values or len(values) < needed:
        return None
    mean = sum(values) / len(values)
    return round((mean - 1) / 4 * 100, 1)


@dataclass(frozen=True)
class Csi4Score:
    total: int | None
    distressed: bool | None
    cutoff: float = 13.5
    max_total: int = 21


def score_csi4(answers: Mapping[str, object], instrument: Instrument | None = None) -> Csi4Score:
    """Plain sum of the four items; None unless all four are answered (no prorating)."""
    instrument = instrument or registry.load(registry.CSI4_ID)
    cutoff = instrument.scoring.cutoff
    if cutoff is None:
        raise registry.InstrumentError(f"{instrument.id} v{instrument.version} has no cut-off")
    total = _complete_sum(instrument, answers)
    distressed = None if total is None else total < cutoff
    return Csi4Score(total, distressed, cutoff, instrument.scoring.max_total or 21)


def _complete_sum(instrument: Instrument, answers: Mapping[str, object]) -> int | None:
    clean = validate_answers(instrument, answers)
    scored = [item for item in instrument.items if item.kind != "text"]
    if any(item.id not in clean for item in scored):
        return None
    return sum(int(clean[item.id]) for item in scored)


@dataclass(frozen=True)
class BalanceScore:
    total: int | None
    score: float | None  # 0–100, to chart beside the intake domains
    max_total: int = 20


def score_balance(instrument: Instrument, answers: Mapping[str, object]) -> BalanceScore:
    """Sum of the check-in items and the same as 0–100; None unless every item is answered."""
    total = _complete_sum(instrument, answers)
    low = instrument.scoring.min_total or 0
    high = instrument.scoring.max_total or 20
    score = None if total is None else round((total - low) / (high - low) * 100, 1)
    return BalanceScore(total, score, high)


@dataclass(frozen=True)
class SafetyScreen:
    positive: bool
    positive_items: tuple[str, ...]
    complete: bool


def screen_safety(instrument: Instrument, answers: Mapping[str, object]) -> SafetyScreen:
    """Positive when any answer is marked positive. An incomplete screen is not a negative one:
    ``complete`` lets the app ask the therapist to finish it rather than assume safety."""
    clean = validate_answers(instrument, answers)
    hits = tuple(
        item.id
        for item in instrument.items
        if item.id in clean and (opt := item.option(clean[item.id])) and opt.positive
    )
    complete = all(item.id in clean for item in instrument.items if item.required)
    return SafetyScreen(positive=bool(hits), positive_items=hits, complete=complete)


@dataclass(frozen=True)
class DomainComparison:
    domain: str
    a: float | None
    b: float | None
    gap: float | None
    agreement: Agreement
    strength: bool
    growth: bool


def compare_partners(
    scores_a: Mapping[str, float | None], scores_b: Mapping[str, float | None]
) -> list[DomainComparison]:
    """Side-by-side reading of two partners' domain scores, in partner A's domain order.

    Growth is raised when either known score is low even if the other is missing: a low score
    is worth the therapist's attention on its own. Strength needs both scores.
    """
    domains = list(dict.fromkeys([*scores_a, *scores_b]))
    return [_compare(domain, scores_a.get(domain), scores_b.get(domain)) for domain in domains]


def _compare(domain: str, a: float | None, b: float | None) -> DomainComparison:
    known = [score for score in (a, b) if score is not None]
    growth = any(score <= GROWTH_MAX for score in known)
    if a is None or b is None:
        return DomainComparison(domain, a, b, None, "incomplete", False, growth)
    gap = round(abs(a - b), 1)
    strength = a >= STRENGTH_MIN and b >= STRENGTH_MIN
    return DomainComparison(domain, a, b, gap, _agreement(gap), strength, growth)


def _agreement(gap: float) -> Agreement:
    if gap < AGREE_GAP:
        return "agree"
    if gap < FAR_GAP:
        return "differ"
    return "far apart"
