"""Apply the challenge rules to a couple's intake answers and suggest flags.

Every flag is a suggestion for the therapist: it carries the rules that fired, each partner's
number set against the rule's threshold in words (how far above or below, and whether that is
within the borderline margin) and each partner's answers (as the labels the partner chose), so a
therapist can see at a glance why it was raised and overrule it. A result just short of a
threshold is not a flag but is listed as borderline, worth asking about. Pure functions: the only
I/O is reading the TOML files once (cached by the loaders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from math import ceil

from counselor_app.flags.challenges import CHALLENGES, SEVERITY_RANK, Partner, Severity
from counselor_app.flags.rules import Rule, Ruleset, load_ruleset, ruleset_for_intake
from counselor_app.instruments import registry
from counselor_app.instruments.model import (
    AnswerValue,
    Instrument,
    Item,
    missing_required,
    validate_answers,
)
from counselor_app.instruments.scoring import concern_value, score_intake, screen_safety

PARTNERS: tuple[Partner, ...] = ("A", "B")
# Ten or more statements all given the same answer looks like a response style (ticking down a
# column) rather than a considered view; worth a word with the partner before trusting scores.
STRAIGHT_LINE_MIN_ITEMS = 10
# How the number a rule compares is described, per unit (see rules.UNITS).
UNIT_WORDS = {"mean": "", "points": "point", "hours": "hour", "steps": "answer step"}
# Statements that can signal coercive control (monitoring). A partner who strongly agrees with one
# gets a therapist-only note: ask them on their own before any joint work. Notes are shown on
# the assessment page and in the therapist's export, never in anything the couple receives.
MONITORING_ITEMS = ("priv_reads_messages", "priv_tracks_location")


@dataclass(frozen=True)
class Evidence:
    item_id: str
    text: str
    answer_a: str | None  # the label partner A chose ("Agree", "12 hours"); None if no answer
    answer_b: str | None


@dataclass(frozen=True)
class Reading:
    """One partner's number (or the pair's, ``who`` "AB") set against a rule's lowest threshold."""

    who: str
    value: float
    threshold: float  # the rule's lowest threshold: the line between a flag and none
    margin: float  # the borderline band either side of that line (0: none)
    beyond: float  # how far past the line toward concern (negative: short of it)
    level: Severity | None  # the severity the value reaches by itself
    key_items: tuple[str, ...] = ()  # strongly endorsed key items: raise the flag by themselves
    # Of the rule's statements, how many this partner endorsed (agreed with a worry, disagreed
    # with a strength), out of how many answered, and how many raise the rule (0: not counted).
    endorsed: int = 0
    answered: int = 0
    endorsed_needed: int = 0
    # A mean's: how far one answer step on one answered statement moves it (1/n answered), so
    # that a flag one click milder would undo counts as borderline whatever the margin; 0 where
    # not counted (other units, rulesets without margins).
    step: float = 0.0

    @property
    def broadly_endorsed(self) -> bool:
        return 0 < self.endorsed_needed <= self.endorsed

    @property
    def met(self) -> bool:
        return self.level is not None or bool(self.key_items) or self.broadly_endorsed

    @property
    def borderline(self) -> bool:
        """On the line or over it by no more than the margin, or by less than one answer step
        (one click milder would undo it), with nothing else behind it: 3.5 against 3.5 is
        borderline, and so is 3.67 (three answers) against 3.5."""
        return (
            self.level is not None
            and not (self.key_items or self.broadly_endorsed)
            and self.margin > 0
            and (self.beyond <= self.margin or self.beyond < self.step)
        )

    @property
    def near_miss(self) -> bool:
        """Short of the line by no more than the margin: not a flag, but worth asking about.
        (Not widened by the answer step: every neutral answer to a one- or two-statement rule
        would be listed.)"""
        return not self.met and -self.margin <= self.beyond < 0


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
    borderline: bool = False  # every reading that raised it is within the margin of the line
    readings: tuple[Reading, ...] = ()


@dataclass(frozen=True)
class NearMiss:
    """A rule whose number fell just short of its threshold, for a challenge with no flag."""

    challenge_key: str
    rule_id: str
    rule_version: int
    title: str
    partners: tuple[Partner, ...]
    detail: str
    readings: tuple[Reading, ...]


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

    @property
    def borderline(self) -> bool:
        """Raised only by values within the margin of a threshold: one answer could undo it."""
        return all(hit.borderline for hit in self.hits)


@dataclass(frozen=True)
class Evaluation:
    flags: tuple[SuggestedFlag, ...]
    notes: tuple[str, ...]
    ruleset_id: str
    ruleset_version: int
    intake_id: str
    intake_version: int
    scores: Mapping[Partner, Mapping[str, float | None]]  # domain scores of present partners
    near_misses: tuple[NearMiss, ...] = ()  # borderline, worth asking about (not flags)

    def flag(self, challenge_key: str) -> SuggestedFlag | None:
        return next((f for f in self.flags if f.challenge_key == challenge_key), None)


@dataclass(frozen=True)
class _PartnerView:
    answers: Mapping[str, AnswerValue]
    scores: Mapping[str, float | None]
    straight_lined: bool


Views = Mapping[Partner, _PartnerView]


@dataclass(frozen=True)
class _Context:
    intake: Instrument
    ruleset: Ruleset


# ----------------------------------------------------------------------------------- evaluate
def evaluate(
    answers_a: Mapping[str, object] | None,
    answers_b: Mapping[str, object] | None,
    *,
    intake: Instrument | None = None,
    ruleset: Ruleset | None = None,
) -> Evaluation:
    """Suggest challenge flags for a couple. A partner with no answers (None or empty) counts as
    missing: individual rules still run for the other, dyadic rules do not.

    Given only an intake version, the rules written for that version are used; given neither,
    the latest ruleset and the intake it reads."""
    if ruleset is None:
        ruleset = ruleset_for_intake(intake.id, intake.version) if intake else load_ruleset()
    intake = intake or registry.load(ruleset.intake_id, ruleset.intake_version)
    if (intake.id, intake.version) != (ruleset.intake_id, ruleset.intake_version):
        raise ValueError(
            f"{ruleset.id} v{ruleset.version} reads {ruleset.intake_id} "
            f"v{ruleset.intake_version}, not {intake.id} v{intake.version}"
        )
    views = {p: _view(intake, answers) for p, answers in _present(answers_a, answers_b).items()}
    context = _Context(intake, ruleset)
    results = [
        (rule, _APPLY[rule.kind](rule, views, context))
        for rule in ruleset.rules
        if not (rule.dyadic and len(views) < 2)
    ]
    hits = [(rule, _hit(rule, readings, context)) for rule, readings in results]
    flags = _merge([(rule, hit) for rule, hit in hits if hit], views, intake)
    flagged = {flag.challenge_key for flag in flags}
    return Evaluation(
        flags=flags,
        notes=_notes(views, intake),
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        intake_id=intake.id,
        intake_version=intake.version,
        scores={p: view.scores for p, view in views.items()},
        near_misses=tuple(
            miss
            for rule, readings in results
            if rule.challenge not in flagged
            if (miss := _near_miss(rule, readings, context))
        ),
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
    return _PartnerView(clean, score_intake(intake, clean), _straight_lined(intake, clean))


# ------------------------------------------------------------------------------------ readings
def _severity(rule: Rule, value: float) -> Severity | None:
    """Highest level whose threshold the value reaches (rounded so 3.4999… counts as 3.5)."""
    value = round(value, 6)
    found: Severity | None = None
    for level, threshold in rule.thresholds:
        if value <= threshold if rule.low_is_worse else value >= threshold:
            found = level
    return found


def _reading(rule: Rule, who: str, value: float, context: _Context) -> Reading:
    threshold = rule.lowest[1]
    beyond = threshold - value if rule.low_is_worse else value - threshold
    return Reading(
        who=who,
        value=round(value, 6),
        threshold=threshold,
        margin=context.ruleset.margin(rule.unit),
        beyond=round(beyond, 6),
        level=_severity(rule, value),
    )


def _with_items(rule: Rule, reading: Reading, view: _PartnerView, context: _Context) -> Reading:
    """Add what single statements say to an individual rule's reading: key items answered at
    the far concern end, and how many of the rule's statements the partner endorsed. Neither is
    counted for a partner who gave every statement the same answer: a column of identical
    ticks says nothing about any one statement."""
    if view.straight_lined:
        return reading
    statements = _statements(rule, context.intake)
    concern = {
        item_id: _concern_step(context.intake.item(item_id), view.answers[item_id])
        for item_id in statements
        if item_id in view.answers
    }
    # Endorsing some statements while firmly rejecting the rest (Agree, Agree, Strongly
    # disagree, Strongly disagree) is no overall concern: the count only counts when the
    # partner's mean concern on the rule's statements is at least neutral.
    leaning = bool(concern) and sum(concern.values()) / len(concern) >= _min_mean_step(context)
    return replace(
        reading,
        key_items=tuple(i for i in rule.key_items if concern.get(i) == 2),
        endorsed=sum(1 for step in concern.values() if step >= 1),
        answered=len(concern),
        endorsed_needed=context.ruleset.endorsed_needed(len(statements)) if leaning else 0,
    )


def _min_mean_step(context: _Context) -> float:
    """The ruleset's least mean concern for the endorsement count, as steps from the middle of
    the 1–5 scale (3.0, neutral, is 0)."""
    return context.ruleset.endorsed_min_mean - 3.0


def _statements(rule: Rule, intake: Instrument) -> tuple[str, ...]:
    if rule.measure == "domain_score":
        return tuple(i.id for i in intake.domain_items(rule.domain or "") if i.kind == "likert")
    return rule.items


def _concern_step(item: Item, value: AnswerValue) -> int:
    """How far toward concern past the middle of the scale: 2 for the far end ("Strongly
    agree" with a worry), 1 for the next ("Agree"), 0 or less otherwise."""
    values = [int(option.value) for option in item.options]
    middle = (min(values) + max(values)) / 2
    return round(concern_value(item, int(value)) - middle)


def _per_partner(
    rule: Rule,
    views: Views,
    context: _Context,
    measure: Callable[[Partner, _PartnerView], float | None],
) -> tuple[Reading, ...]:
    """Individual rules: one reading for each partner the measure can be taken for."""
    readings = []
    for partner, view in views.items():
        value = measure(partner, view)
        if value is not None:
            reading = _reading(rule, partner, value, context)
            if rule.kind == "individual":
                reading = _with_items(rule, reading, view, context)
            if rule.measure == "concern_mean" and reading.margin > 0:
                answered = sum(1 for item_id in rule.items if item_id in view.answers)
                reading = replace(reading, step=round(1 / answered, 6))
            readings.append(reading)
    return tuple(readings)


def _apply_individual(rule: Rule, views: Views, context: _Context) -> tuple[Reading, ...]:
    if rule.measure == "domain_score":
        domain = rule.domain or ""
        return _per_partner(rule, views, context, lambda _, v: v.scores.get(domain))
    items = [context.intake.item(item_id) for item_id in rule.items]
    needed = rule.min_answered or ceil(len(items) / 2)

    def mean_concern(_: Partner, view: _PartnerView) -> float | None:
        values = [concern_value(i, int(view.answers[i.id])) for i in items if i.id in view.answers]
        return sum(values) / len(values) if len(values) >= needed else None

    return _per_partner(rule, views, context, mean_concern)


def _apply_hours_shortfall(rule: Rule, views: Views, context: _Context) -> tuple[Reading, ...]:
    def shortfall(partner: Partner, view: _PartnerView) -> float | None:
        wanted_more = _wanted_more(rule, view)
        if wanted_more is None or (
            rule.unless_other_wants_less and _other_wants_less(rule, views, partner)
        ):
            return None
        return wanted_more

    return _per_partner(rule, views, context, shortfall)


def _wanted_more(rule: Rule, view: _PartnerView) -> float | None:
    current, desired = rule.current or "", rule.desired or ""
    if current not in view.answers or desired not in view.answers:
        return None
    return float(int(view.answers[desired]) - int(view.answers[current]))


def _other_wants_less(rule: Rule, views: Views, partner: Partner) -> bool:
    """The other partner would like less of this time than they have now: the two pull apart,
    which the mismatched-needs rules read; it is not a lack both feel."""
    other = next((view for p, view in views.items() if p != partner), None)
    wanted_more = _wanted_more(rule, other) if other else None
    return wanted_more is not None and wanted_more < 0


def _pair(views: Views, read: Callable[[_PartnerView], float | None]) -> tuple[float, float] | None:
    a, b = read(views["A"]), read(views["B"])
    return None if a is None or b is None else (a, b)


def _apply_dyadic_gap(rule: Rule, views: Views, context: _Context) -> tuple[Reading, ...]:
    if rule.domain:
        domain = rule.domain
        pair = _pair(views, lambda v: v.scores.get(domain))
    else:
        item_id = rule.item or ""
        pair = _pair(views, lambda v: _number(v.answers.get(item_id)))
    if pair is None or (rule.directions_from and not _pulling_apart(rule, views)):
        return ()
    return (_reading(rule, "AB", abs(pair[0] - pair[1]), context),)


def _pulling_apart(rule: Rule, views: Views) -> bool:
    """Whether the partners' wishes point different ways from now (more, the same, less). Two
    partners who both want more time together, by different amounts, lack it together: that is
    not a mismatch between them."""
    now, wish = rule.directions_from or "", rule.item or ""
    moves = _pair(views, lambda v: _difference(v.answers.get(wish), v.answers.get(now)))
    return moves is not None and _direction(moves[0]) != _direction(moves[1])


def _direction(move: float) -> int:
    return (move > 0) - (move < 0)


def _difference(wish: AnswerValue | None, now: AnswerValue | None) -> float | None:
    return None if wish is None or now is None else float(wish) - float(now)


def _number(value: AnswerValue | None) -> float | None:
    return None if value is None else float(value)


def _apply_both_low(rule: Rule, views: Views, context: _Context) -> tuple[Reading, ...]:
    domain = rule.domain or ""
    pair = _pair(views, lambda v: v.scores.get(domain))
    return () if pair is None else (_reading(rule, "AB", max(pair), context),)


def _apply_opposite(rule: Rule, views: Views, context: _Context) -> tuple[Reading, ...]:
    """Pursue–withdraw: one partner's wish for closeness set against the other's for space.

    Each partner must lean their own way (the pursuer wants closeness more than space, the
    other the reverse): someone who agrees with both wishes is not pursuing or withdrawing.
    The reading's ``who`` names the pursuer first ("AB": A pursues, "BA": B pursues).
    """
    best: tuple[float, Partner, Partner] | None = None
    orders: tuple[tuple[Partner, Partner], ...] = (("A", "B"), ("B", "A"))
    for pursuer, other in orders:
        strength = _opposition(rule, views[pursuer].answers, views[other].answers)
        if strength is not None and (best is None or strength > best[0]):
            best = (strength, pursuer, other)
    if best is None:
        return ()
    strength, pursuer, other = best
    return (_reading(rule, pursuer + other, strength, context),)


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


_APPLY: dict[str, Callable[[Rule, Views, _Context], tuple[Reading, ...]]] = {
    "individual": _apply_individual,
    "hours_shortfall": _apply_hours_shortfall,
    "dyadic_gap": _apply_dyadic_gap,
    "dyadic_both_low": _apply_both_low,
    "dyadic_opposite": _apply_opposite,
}


# ---------------------------------------------------------------------------- hits and words
def _hit(rule: Rule, readings: tuple[Reading, ...], context: _Context) -> RuleHit | None:
    """The rule's hit when any reading meets it: every partner whose own numbers do is named."""
    met = [reading for reading in readings if reading.met]
    if not met:
        return None
    lowest = rule.lowest[0]
    severity = max((r.level or lowest for r in met), key=SEVERITY_RANK.__getitem__)
    partners = tuple(p for p in PARTNERS if any(p in r.who for r in met))
    return RuleHit(
        rule_id=rule.id,
        rule_version=rule.version,
        kind=rule.kind,
        title=rule.title,
        severity=severity,
        partners=partners,
        detail=_detail(rule, readings, context),
        borderline=all(r.borderline for r in met),
        readings=readings,
    )


def _near_miss(rule: Rule, readings: tuple[Reading, ...], context: _Context) -> NearMiss | None:
    near = [reading for reading in readings if reading.near_miss]
    if not near or any(reading.met for reading in readings):
        return None
    return NearMiss(
        challenge_key=rule.challenge,
        rule_id=rule.id,
        rule_version=rule.version,
        title=rule.title,
        partners=tuple(p for p in PARTNERS if any(p in r.who for r in near)),
        detail=_detail(rule, readings, context),
        readings=readings,
    )


def _fmt(value: float) -> str:
    """Up to two decimals, no trailing zeros: 3.25 and 3.5 and 40, never 3.2 for 3.25."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _detail(rule: Rule, readings: tuple[Reading, ...], context: _Context) -> str:
    words = "; ".join(_reading_words(rule, reading, context) for reading in readings)
    return f"{_SCALES[rule.kind, rule.measure]}{words}"


# Said once before the readings, so each reading stays short.
_SCALES: dict[tuple[str, str | None], str] = {
    ("individual", "concern_mean"): "Mean concern on 1–5 (5 = most concern). ",
    ("individual", "domain_score"): "Domain score 0–100 (higher is healthier). ",
    ("hours_shortfall", None): "",
    ("dyadic_gap", None): "",
    ("dyadic_both_low", None): "",
    ("dyadic_opposite", None): "",
}


def _reading_words(rule: Rule, reading: Reading, context: _Context) -> str:
    """E.g. "A: mean concern 3.5 against a threshold of 3.4: 0.1 above, borderline (…)"."""
    distance = abs(reading.value - reading.threshold)
    if distance < 1e-6:
        where = "exactly at it"
    else:
        side = "above" if reading.value > reading.threshold else "below"
        where = f"{_amount(distance, rule.unit)} {side}"
    words = (
        f"{_measure_words(rule, reading, context)} against a threshold of "
        f"{_amount(reading.threshold, rule.unit)}: {where}"
    )
    if reading.borderline:
        words += f", borderline ({_band_words(rule, reading)})"
    elif reading.near_miss:
        words += f", {_band_words(rule, reading)}: worth asking about"
    elif not reading.met:
        words += ", not raised"
    raised = reading.level is not None
    if reading.broadly_endorsed:
        words += "; " + _endorsed_words(rule, reading, also=raised)
    if reading.key_items:
        also = raised or reading.broadly_endorsed
        words += "; " + _key_item_words(rule, reading, context, also=also)
    return words


def _band_words(rule: Rule, reading: Reading) -> str:
    """Why a result counts as borderline: within the margin, or one answer step from none."""
    if abs(reading.beyond) <= reading.margin:
        return f"within the margin of {_amount(reading.margin, rule.unit)}"
    answered = round(1 / reading.step)
    where = "that statement" if answered == 1 else f"one of the {answered} statements answered"
    return f"one answer step milder on {where} would undo it"


def _amount(value: float, unit: str) -> str:
    """A number with its unit in words: "3.5", "1 answer step", "10 hours"."""
    word = UNIT_WORDS[unit]
    if not word:
        return _fmt(value)
    return f"{_fmt(value)} {word}" + ("" if abs(value - 1) < 1e-6 else "s")


def _measure_words(rule: Rule, reading: Reading, context: _Context) -> str:
    value = _fmt(reading.value)
    if rule.kind == "individual" and rule.measure == "domain_score":
        title = context.intake.domain_title(rule.domain or "")
        return f"{reading.who}: {title} score {value}"
    if rule.kind == "individual":
        return f"{reading.who}: mean concern {value}"
    if rule.kind == "hours_shortfall":
        return f"{reading.who}: would like {value} hours a week more together than now"
    if rule.kind == "dyadic_both_low":
        title = context.intake.domain_title(rule.domain or "")
        return f"the higher of the two {title} scores (0–100, higher is healthier) is {value}"
    if rule.kind == "dyadic_opposite":
        pursuer, other = reading.who
        return (
            f"{pursuer} wants more time together, {other} more time alone: the weaker of the "
            f"two answers is {value} on 1–5"
        )
    return f"the partners' answers differ by {_amount(reading.value, rule.unit)}"


def _key_item_words(rule: Rule, reading: Reading, context: _Context, *, also: bool) -> str:
    quoted = ", ".join(f"“{context.intake.item(item_id).text}”" for item_id in reading.key_items)
    count = len(reading.key_items)
    what = "one strongly endorsed item" if count == 1 else f"{count} strongly endorsed items"
    if also:
        return f"also {what}: {quoted}"
    return f"raised at {rule.lowest[0]} severity by {what}: {quoted}"


def _endorsed_words(rule: Rule, reading: Reading, *, also: bool) -> str:
    counted = (
        f"{reading.endorsed} of the {reading.answered} statements endorsed (agreeing with a "
        f"worry or disagreeing with a strength; {reading.endorsed_needed} needed)"
    )
    return f"also {counted}" if also else f"raised at {rule.lowest[0]} severity: {counted}"


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
        if view.straight_lined:
            notes.append(
                f"Partner {partner} gave the same answer to every statement; their scores may "
                "reflect a way of answering rather than the relationship."
            )
        if _monitored(intake, view):
            notes.append(
                f"Partner {partner} strongly agreed that their messages are read or their "
                "whereabouts tracked: ask about it on their own before joint work (possible "
                "coercive control)."
            )
    return tuple(notes)


def _monitored(intake: Instrument, view: _PartnerView) -> bool:
    """Strongly agreed with a monitoring statement (straight-lined or not: safety comes first)."""
    return any(
        _concern_step(intake.item(item_id), view.answers[item_id]) == 2
        for item_id in MONITORING_ITEMS
        if intake.has_item(item_id) and item_id in view.answers
    )


def _straight_lined(intake: Instrument, answers: Mapping[str, AnswerValue]) -> bool:
    values = [answers[i.id] for i in intake.items if i.kind == "likert" and i.id in answers]
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
