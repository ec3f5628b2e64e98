"""Apply the challenge rules to a couple's intake answers and suggest flags.

Every flag is a suggestion for the therapist: it carries the rules that fired, the numbers that
crossed their thresholds and each partner's answers (as the labels the partner chose), so a
therapist can see at a glance why it was raised and overrule it. Pure functions: the only I/O is
reading the TOML files once (cached by the loaders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import ceil

from counselor_app.flags.challenges import CHALLENGES, SEVERITY_RANK, Partner, Severity
from counselor_app.flags.rules import Rule, Ruleset, load_ruleset
from counselor_app.instruments import registry
from counselor_app.instruments.model import (
    AnswerValue,
    Instrument,
    missing_required,
    validate_answers,
)
from counselor_app.instruments.scoring import concern_value, score_intake, screen_safety

PARTNERS: tuple[Partner, ...] = ("A", "B")
# Ten or more statements all given the same answer looks like a response style (ticking down a
# column) rather than a considered view; worth a word with the partner before trusting scores.
STRAIGHT_LINE_MIN_ITEMS = 10


@dataclass(frozen=True)
class Evidence:
    item_id: str
    text: str
    answer_a: str | None  # the label partner A chose ("Agree", "12 hours"); None if no answer
    answer_b: str | None


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: kept on the flag so the therapist sees every reason, not just one."""

    rule_id: str
    rule_version: int
    kind: str
    title: str
    severity: Severity
    partners: tuple[Partner, ...]
    detail: str  # the values compared with the threshold, in words


@dataclass(frozen=True)
class SuggestedFlag:
    challenge_key: str
    title: str
    severity: Severity
    partners: tuple[Partner, ...]
    evidence: tuple[Evidence, ...]
    hits: tuple[RuleHit, ...]  # most severe first
    strategies: tuple[str, ...]

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(hit.rule_id for hit in self.hits)

    @property
    def rule_id(self) -> str:
        """The rule behind the flag's severity (the first, most severe hit)."""
        return self.hits[0].rule_id

    @property
    def rule_version(self) -> int:
        return self.hits[0].rule_version


@dataclass(frozen=True)
class Evaluation:
    flags: tuple[SuggestedFlag, ...]
    notes: tuple[str, ...]
    ruleset_id: str
    ruleset_version: int
    intake_id: str
    intake_version: int
    scores: Mapping[Partner, Mapping[str, float | None]]  # domain scores of present partners

    def flag(self, challenge_key: str) -> SuggestedFlag | None:
        return next((f for f in self.flags if f.challenge_key == challenge_key), None)


@dataclass(frozen=True)
class _PartnerView:
    answers: Mapping[str, AnswerValue]
    scores: Mapping[str, float | None]


Views = Mapping[Partner, _PartnerView]


# ----------------------------------------------------------------------------------- evaluate
def evaluate(
    answers_a: Mapping[str, object] | None,
    answers_b: Mapping[str, object] | None,
    *,
    intake: Instrument | None = None,
    ruleset: Ruleset | None = None,
) -> Evaluation:
    """Suggest challenge flags for a couple. A partner with no answers (None or empty) counts as
    missing: individual rules still run for the other, dyadic rules do not."""
    ruleset = ruleset or load_ruleset()
    intake = intake or registry.load(ruleset.intake_id, ruleset.intake_version)
    if (intake.id, intake.version) != (ruleset.intake_id, ruleset.intake_version):
        raise ValueError(
            f"{ruleset.id} v{ruleset.version} reads {ruleset.intake_id} "
            f"v{ruleset.intake_version}, not {intake.id} v{intake.version}"
        )
    views = {p: _view(intake, answers) for p, answers in _present(answers_a, answers_b).items()}
    hits = [
        (rule, hit)
        for rule in ruleset.rules
        if not (rule.dyadic and len(views) < 2)
        if (hit := _APPLY[rule.kind](rule, views, intake)) is not None
    ]
    return Evaluation(
        flags=_merge(hits, views, intake),
        notes=_notes(views, intake),
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        intake_id=intake.id,
        intake_version=intake.version,
        scores={p: view.scores for p, view in views.items()},
    )


def _present(
    answers_a: Mapping[str, object] | None, answers_b: Mapping[str, object] | None
) -> dict[Partner, Mapping[str, object]]:
    """Partners who have answers; None and an empty mapping both mean "not answered yet"."""
    pairs: tuple[tuple[Partner, Mapping[str, object] | None], ...] = (
        ("A", answers_a),
        ("B", answers_b),
    )
    return {partner: answers for partner, answers in pairs if answers}


def _view(intake: Instrument, answers: Mapping[str, object]) -> _PartnerView:
    clean = validate_answers(intake, answers)
    return _PartnerView(clean, score_intake(intake, clean))


# ----------------------------------------------------------------------------------- rule kinds
def _severity(rule: Rule, value: float) -> Severity | None:
    """Highest level whose threshold the value reaches (rounded so 3.4999… counts as 3.5)."""
    value = round(value, 6)
    found: Severity | None = None
    for level, threshold in rule.thresholds:
        if value <= threshold if rule.low_is_worse else value >= threshold:
            found = level
    return found


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _threshold_text(rule: Rule) -> str:
    sign = "≤" if rule.low_is_worse else "≥"
    level, threshold = rule.thresholds[0]
    return f"flagged from {sign} {_fmt(threshold)} ({level})"


def _per_partner(
    rule: Rule, views: Views, measure: Callable[[_PartnerView], float | None], what: str
) -> RuleHit | None:
    """Individual rules: measure each present partner, keep those who cross a threshold."""
    values = {p: measure(view) for p, view in views.items()}
    crossed = {p: sev for p, v in values.items() if v is not None and (sev := _severity(rule, v))}
    if not crossed:
        return None
    shown = ", ".join(f"{p} {_fmt(v)}" for p, v in values.items() if v is not None)
    severity = max(crossed.values(), key=SEVERITY_RANK.__getitem__)
    detail = f"{what}: {shown}; {_threshold_text(rule)}"
    return _hit(rule, severity, tuple(crossed), detail)


def _hit(rule: Rule, severity: Severity, partners: tuple[Partner, ...], detail: str) -> RuleHit:
    return RuleHit(rule.id, rule.version, rule.kind, rule.title, severity, partners, detail)


def _apply_individual(rule: Rule, views: Views, intake: Instrument) -> RuleHit | None:
    if rule.measure == "domain_score":
        domain = rule.domain or ""
        return _per_partner(
            rule, views, lambda v: v.scores.get(domain), f"{domain} score (0–100, high = healthy)"
        )
    items = [intake.item(item_id) for item_id in rule.items]
    needed = rule.min_answered or ceil(len(items) / 2)

    def mean_concern(view: _PartnerView) -> float | None:
        values = [concern_value(i, int(view.answers[i.id])) for i in items if i.id in view.answers]
        return sum(values) / len(values) if len(values) >= needed else None

    return _per_partner(rule, views, mean_concern, "mean concern (1–5, 5 = most concern)")


def _apply_hours_shortfall(rule: Rule, views: Views, intake: Instrument) -> RuleHit | None:
    current, desired = rule.current or "", rule.desired or ""

    def shortfall(view: _PartnerView) -> float | None:
        if current not in view.answers or desired not in view.answers:
            return None
        return float(int(view.answers[desired]) - int(view.answers[current]))

    return _per_partner(rule, views, shortfall, "hours a week wanted beyond current")


def _pair(views: Views, read: Callable[[_PartnerView], float | None]) -> tuple[float, float] | None:
    a, b = read(views["A"]), read(views["B"])
    return None if a is None or b is None else (a, b)


def _apply_dyadic_gap(rule: Rule, views: Views, intake: Instrument) -> RuleHit | None:
    if rule.domain:
        domain = rule.domain
        pair = _pair(views, lambda v: v.scores.get(domain))
        unit = f"{domain} score"
    else:
        item_id = rule.item or ""
        pair = _pair(views, lambda v: _number(v.answers.get(item_id)))
        unit = "hours" if intake.item(item_id).kind == "hours" else "answer steps"
    if pair is None:
        return None
    gap = abs(pair[0] - pair[1])
    severity = _severity(rule, gap)
    if severity is None:
        return None
    detail = (
        f"A {_fmt(pair[0])}, B {_fmt(pair[1])}: gap {_fmt(gap)} {unit}; {_threshold_text(rule)}"
    )
    return _hit(rule, severity, PARTNERS, detail)


def _number(value: AnswerValue | None) -> float | None:
    return None if value is None else float(value)


def _apply_both_low(rule: Rule, views: Views, intake: Instrument) -> RuleHit | None:
    domain = rule.domain or ""
    pair = _pair(views, lambda v: v.scores.get(domain))
    if pair is None or (severity := _severity(rule, max(pair))) is None:
        return None
    detail = f"{domain} score A {_fmt(pair[0])}, B {_fmt(pair[1])}; both {_threshold_text(rule)}"
    return _hit(rule, severity, PARTNERS, detail)


def _apply_opposite(rule: Rule, views: Views, intake: Instrument) -> RuleHit | None:
    """Pursue–withdraw: one partner's wish for closeness set against the other's for space.

    Each partner must lean their own way (the pursuer wants closeness more than space, the
    other the reverse): someone who agrees with both wishes is not pursuing or withdrawing.
    """
    best: tuple[float, Partner, Partner] | None = None
    orders: tuple[tuple[Partner, Partner], ...] = (("A", "B"), ("B", "A"))
    for pursuer, other in orders:
        strength = _opposition(rule, views[pursuer].answers, views[other].answers)
        if strength is not None and (best is None or strength > best[0]):
            best = (strength, pursuer, other)
    if best is None or (severity := _severity(rule, best[0])) is None:
        return None
    strength, pursuer, other = best
    detail = (
        f"{pursuer} wants more time together, {other} more time alone: weaker of the two "
        f"answers {_fmt(strength)} on 1–5; {_threshold_text(rule)}"
    )
    return _hit(rule, severity, PARTNERS, detail)


def _opposition(
    rule: Rule, pursuer: Mapping[str, AnswerValue], other: Mapping[str, AnswerValue]
) -> float | None:
    toward, away = rule.pursue_item or "", rule.withdraw_item or ""
    wants_closeness, wants_space = _number(pursuer.get(toward)), _number(other.get(away))
    if wants_closeness is None or wants_space is None:
        return None
    leans_in = wants_closeness > (_number(pursuer.get(away)) or 0)
    leans_out = wants_space > (_number(other.get(toward)) or 0)
    return min(wants_closeness, wants_space) if leans_in and leans_out else None


_APPLY: dict[str, Callable[[Rule, Views, Instrument], RuleHit | None]] = {
    "individual": _apply_individual,
    "hours_shortfall": _apply_hours_shortfall,
    "dyadic_gap": _apply_dyadic_gap,
    "dyadic_both_low": _apply_both_low,
    "dyadic_opposite": _apply_opposite,
}


# ------------------------------------------------------------------------------------- merging
def _merge(
    hits: list[tuple[Rule, RuleHit]], views: Views, intake: Instrument
) -> tuple[SuggestedFlag, ...]:
    """One flag per challenge: the worst severity, and the union of everything that raised it."""
    by_key: dict[str, list[tuple[Rule, RuleHit]]] = {}
    for rule, hit in hits:
        by_key.setdefault(rule.challenge, []).append((rule, hit))
    flags = [_flag(key, group, views, intake) for key, group in by_key.items()]
    return tuple(sorted(flags, key=lambda f: (-SEVERITY_RANK[f.severity], f.challenge_key)))


def _flag(
    key: str, group: list[tuple[Rule, RuleHit]], views: Views, intake: Instrument
) -> SuggestedFlag:
    group = sorted(group, key=lambda pair: (-SEVERITY_RANK[pair[1].severity], pair[1].rule_id))
    partners = {p for _, hit in group for p in hit.partners}
    item_ids = dict.fromkeys(item_id for rule, _ in group for item_id in rule.reads)
    strategies = dict.fromkeys(key for rule, _ in group for key in rule.strategies)
    return SuggestedFlag(
        challenge_key=key,
        title=CHALLENGES[key][0],
        severity=group[0][1].severity,
        partners=tuple(p for p in PARTNERS if p in partners),
        evidence=tuple(_evidence(intake, item_id, views) for item_id in item_ids),
        hits=tuple(hit for _, hit in group),
        strategies=tuple(strategies),
    )


def _evidence(intake: Instrument, item_id: str, views: Views) -> Evidence:
    item = intake.item(item_id)
    labels = {p: item.label_for(view.answers.get(item_id)) for p, view in views.items()}
    return Evidence(item_id, item.text, labels.get("A"), labels.get("B"))


# --------------------------------------------------------------------------------------- notes
def _notes(views: Views, intake: Instrument) -> tuple[str, ...]:
    if not views:
        return ("Neither partner's intake has answers yet: no flags are computed.",)
    notes: list[str] = []
    if len(views) == 1:
        (present,) = views
        notes.append(
            f"Only partner {present}'s intake is complete: dyadic flags "
            "(differences between partners) are not computed."
        )
    for partner, view in views.items():
        unanswered = missing_required(intake, view.answers)
        if unanswered:
            notes.append(
                f"Partner {partner} left {len(unanswered)} required question(s) unanswered; "
                "flags that depend on them may be missing."
            )
        if _straight_lined(intake, view):
            notes.append(
                f"Partner {partner} gave the same answer to every statement; their scores may "
                "reflect a way of answering rather than the relationship."
            )
    return tuple(notes)


def _straight_lined(intake: Instrument, view: _PartnerView) -> bool:
    values = [
        view.answers[i.id] for i in intake.items if i.kind == "likert" and i.id in view.answers
    ]
    return len(values) >= STRAIGHT_LINE_MIN_ITEMS and len(set(values)) == 1


# -------------------------------------------------------------------------------------- safety
@dataclass(frozen=True)
class SafetyAlert:
    """Therapist-only. Never rendered into anything a client sees, and not a challenge flag."""

    partners: tuple[Partner, ...]
    positive_items_a: tuple[str, ...]
    positive_items_b: tuple[str, ...]
    evidence: tuple[Evidence, ...]


def evaluate_safety(
    safety_a: Mapping[str, object] | None,
    safety_b: Mapping[str, object] | None,
    *,
    instrument: Instrument | None = None,
) -> SafetyAlert | None:
    """A SafetyAlert if either partner's screen is positive, else None."""
    instrument = instrument or registry.load(registry.SAFETY_ID)
    present = _present(safety_a, safety_b)
    positive = {p: screen_safety(instrument, a).positive_items for p, a in present.items()}
    partners = tuple(p for p, items in positive.items() if items)
    if not partners:
        return None
    flagged = dict.fromkeys(item_id for p in partners for item_id in positive[p])
    clean = {p: validate_answers(instrument, answers) for p, answers in present.items()}
    evidence = tuple(_safety_evidence(instrument, item_id, clean) for item_id in flagged)
    return SafetyAlert(partners, positive.get("A", ()), positive.get("B", ()), evidence)


def _safety_evidence(
    instrument: Instrument, item_id: str, clean: Mapping[Partner, Mapping[str, AnswerValue]]
) -> Evidence:
    item = instrument.item(item_id)
    labels = {p: item.label_for(answers.get(item_id)) for p, answers in clean.items()}
    return Evidence(item_id, item.text, labels.get("A"), labels.get("B"))
