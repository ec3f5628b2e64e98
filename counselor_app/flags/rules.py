"""The challenge rules as data: parse ``rules_v<N>.toml`` and refuse a ruleset that is wrong.

A rule that names an item the intake does not have, a challenge or strategy nobody knows, or
thresholds that run the wrong way would silently never fire (or always fire). Validation runs at
load and reports every problem at once, naming the rule, so the file can be fixed in one pass.

Every ruleset version stays loadable: a stored flag names the rule ids and versions that raised
it, and a couple whose intake was answered on an older intake version is scored by the ruleset
written for that version (``ruleset_for_intake``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from math import ceil
from typing import Any, Literal

from counselor_app.flags.challenges import CHALLENGES, SEVERITIES, STRATEGY_KEYS, Severity
from counselor_app.instruments import registry
from counselor_app.instruments.model import Instrument

RuleKind = Literal[
    "individual", "hours_shortfall", "dyadic_gap", "dyadic_both_low", "dyadic_opposite"
]
RULE_KINDS: tuple[str, ...] = (
    "individual",
    "hours_shortfall",
    "dyadic_gap",
    "dyadic_both_low",
    "dyadic_opposite",
)
DYADIC_KINDS = frozenset({"dyadic_gap", "dyadic_both_low", "dyadic_opposite"})
MEASURES = ("concern_mean", "domain_score")
# What a rule's number is counted in; a ruleset's borderline margins are given per unit.
UNITS = ("mean", "points", "hours", "steps")

_RULE_ID = re.compile(r"^R-[A-Z]+-\d{2}$")
_FILE_NAME = re.compile(r"^rules_v(?P<version>\d+)\.toml$")
_COMMON = frozenset(
    {"id", "version", "challenge", "kind", "title", "description", "thresholds", "strategies"}
)
_EXTRA_FIELDS: dict[str, frozenset[str]] = {
    "individual": frozenset({"measure", "items", "domain", "min_answered", "key_items"}),
    "hours_shortfall": frozenset({"current", "desired", "unless_other_wants_less"}),
    "dyadic_gap": frozenset({"domain", "item", "directions_from"}),
    "dyadic_both_low": frozenset({"domain"}),
    "dyadic_opposite": frozenset({"pursue_item", "withdraw_item"}),
}
_HOURS_MAX = 168  # hours in a week: no hours threshold or gap can exceed it


class RulesetError(ValueError):
    """A ruleset file that must not be used; ``problems`` lists every fault found."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"{name} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    challenge: str
    kind: RuleKind
    title: str
    description: str
    thresholds: tuple[tuple[Severity, float], ...]  # ordered low → high severity
    strategies: tuple[str, ...]
    measure: str | None = None
    items: tuple[str, ...] = ()
    domain: str | None = None
    item: str | None = None
    current: str | None = None
    desired: str | None = None
    pursue_item: str | None = None
    withdraw_item: str | None = None
    min_answered: int | None = None
    # Items specific enough that one answer at the concern end of the scale raises the flag on
    # its own (at the rule's lowest severity) when the mean or score does not.
    key_items: tuple[str, ...] = ()
    # hours_shortfall: not counted when the other partner wants LESS of the same than they have
    # (one wanting more while the other wants less is mismatched needs, not a shared lack).
    unless_other_wants_less: bool = False
    # dyadic_gap on a wish: counted only when the two wishes point different ways from each
    # partner's answer to this item (one wants more than now, the other no more, or the reverse).
    directions_from: str | None = None
    unit: str = "mean"  # what the compared number counts: one of UNITS
    reads: tuple[str, ...] = ()  # every intake item the rule looks at: shown as its evidence

    @property
    def dyadic(self) -> bool:
        return self.kind in DYADIC_KINDS

    @property
    def low_is_worse(self) -> bool:
        """Domain scores are high = healthy, so those rules fire at or BELOW their threshold."""
        return _low_is_worse(self.kind, self.measure)

    @property
    def lowest(self) -> tuple[Severity, float]:
        """The least severe level and its threshold: the line between a flag and none."""
        return self.thresholds[0]


@dataclass(frozen=True)
class Ruleset:
    id: str
    version: int
    intake_id: str
    intake_version: int
    rules: tuple[Rule, ...]
    # unit → how close to a rule's lowest threshold a value counts as borderline; a unit left
    # out (and every unit of a ruleset without margins, such as v1) has no borderline band.
    margins: tuple[tuple[str, float], ...] = ()
    # Individual rules also fire (at their lowest severity) when a partner endorses at least this
    # share of the rule's statements, and at least `endorsed_min` of them; 0: no such path (v1).
    endorsed_share: float = 0.0
    endorsed_min: int = 0
    # ... and only while the partner's mean concern on the rule's statements is at least this
    # (1–5; 3.0 is neutral): agreeing with two worries and firmly rejecting two is no concern.
    endorsed_min_mean: float = 3.0

    def endorsed_needed(self, statements: int) -> int:
        """How many of a rule's statements a partner must endorse to raise it; 0: never."""
        if not self.endorsed_min:
            return 0
        return max(self.endorsed_min, ceil(self.endorsed_share * statements))

    def for_challenge(self, key: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.challenge == key)

    def margin(self, unit: str) -> float:
        return dict(self.margins).get(unit, 0.0)

    def with_margins(self, margins: Mapping[str, float]) -> Ruleset:
        """The same rules with some margins replaced (a practice's configuration)."""
        problems = _margin_problems(margins)
        if problems:
            raise RulesetError(f"borderline margins for {self.id} v{self.version}", problems)
        merged = {**dict(self.margins), **{unit: float(v) for unit, v in margins.items()}}
        return replace(self, margins=tuple(sorted(merged.items())))


def _low_is_worse(kind: str, measure: str | None) -> bool:
    return kind == "dyadic_both_low" or measure == "domain_score"


# ------------------------------------------------------------------------------------- loading
@cache
def available_versions() -> tuple[int, ...]:
    entries = resources.files("counselor_app.flags").iterdir()
    found = (_FILE_NAME.match(entry.name) for entry in entries)
    return tuple(sorted(int(match["version"]) for match in found if match))


def load_ruleset(version: int | None = None) -> Ruleset:
    """The shipped ruleset at ``version`` (latest when None), validated and cached."""
    versions = available_versions()
    return _load(versions[-1] if version is None else version)


@cache
def _load(version: int) -> Ruleset:
    resource = resources.files("counselor_app.flags") / f"rules_v{version}.toml"
    return parse_ruleset(tomllib.loads(resource.read_text(encoding="utf-8")))


def ruleset_for_intake(intake_id: str, intake_version: int) -> Ruleset:
    """The newest shipped ruleset written for this intake version: answers on an older intake
    keep being flagged by the rules made for them."""
    for version in reversed(available_versions()):
        ruleset = _load(version)
        if (ruleset.intake_id, ruleset.intake_version) == (intake_id, intake_version):
            return ruleset
    raise RulesetError(f"{intake_id} v{intake_version}", ["no ruleset reads this intake version"])


def parse_ruleset(data: Mapping[str, Any], intake: Instrument | None = None) -> Ruleset:
    """Validate and build a ruleset; raise RulesetError listing every problem."""
    head = data.get("ruleset", {})
    name = f"ruleset {head.get('id', '?')} v{head.get('version', '?')}"
    missing = [key for key in ("id", "version", "intake", "intake_version") if key not in head]
    if missing:
        raise RulesetError(name, [f"[ruleset] is missing {', '.join(missing)}"])
    intake = intake or registry.load(head["intake"], head["intake_version"])
    margins = head.get("margins", {})
    endorsement = head.get("endorsement", {})
    problems: list[str] = [f"[ruleset.margins]: {p}" for p in _margin_problems(margins)]
    problems += [f"[ruleset.endorsement]: {p}" for p in _endorsement_problems(endorsement)]
    rules: list[Rule] = []
    seen: set[str] = set()
    for raw in data.get("rules", []):
        rule_id = str(raw.get("id", "<rule without id>"))
        faults = _rule_problems(raw, intake) + (["duplicate rule id"] if rule_id in seen else [])
        seen.add(rule_id)
        problems += [f"{rule_id}: {fault}" for fault in faults]
        if not faults:
            rules.append(_build_rule(raw, intake))
    if not rules and not problems:
        problems.append("no rules")
    if problems:
        raise RulesetError(name, problems)
    return Ruleset(
        head["id"],
        head["version"],
        intake.id,
        intake.version,
        tuple(rules),
        tuple(sorted((unit, float(value)) for unit, value in margins.items())),
        float(endorsement.get("share", 0.0)),
        int(endorsement.get("at_least", 0)),
        float(endorsement.get("min_mean", 3.0)),
    )


def _endorsement_problems(endorsement: object) -> list[str]:
    if not isinstance(endorsement, Mapping):
        return ["endorsement must be a table such as { share = 0.5, at_least = 2 }"]
    known = ("share", "at_least", "min_mean")
    problems = [f"unknown field {key!r}" for key in endorsement if key not in known]
    share, at_least = endorsement.get("share", 0.5), endorsement.get("at_least", 1)
    min_mean = endorsement.get("min_mean", 3.0)
    if (
        isinstance(min_mean, bool)
        or not isinstance(min_mean, int | float)
        or not 1 <= min_mean <= 5
    ):
        problems.append("min_mean must be a number from 1 to 5")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        problems.append("share must be a number above 0 and at most 1")
    if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 1:
        problems.append("at_least must be a whole number from 1")
    return problems


def margins_setting_problem(value: object, name: str = "COUNSELOR_BORDERLINE_MARGINS") -> str:
    """Why a practice's borderline margins could not be applied ("" when they can): checked
    once at start, else every rescore would fail. None or an empty mapping: the ruleset's own
    margins."""
    if value is None:
        return ""
    problems = _margin_problems(value)
    if not problems:
        return ""
    units = ", ".join(UNITS)
    return (
        f"{name}: {'; '.join(problems)} (a mapping of {units} to numbers from 0, "
        'e.g. {"mean": 0.25, "points": 5})'
    )


def _margin_problems(margins: object) -> list[str]:
    if not isinstance(margins, Mapping):
        return ["margins must be a table such as { mean = 0.25, points = 5 }"]
    problems = [f"unknown unit {unit!r}" for unit in margins if unit not in UNITS]
    bad = [
        unit
        for unit, value in margins.items()
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0
    ]
    return problems + [f"margin for {unit} must be a number from 0" for unit in bad]


# ---------------------------------------------------------------------------------- validation
def _rule_problems(raw: Mapping[str, Any], intake: Instrument) -> list[str]:
    missing = sorted(_COMMON - raw.keys())
    if missing:
        return [f"missing {', '.join(missing)}"]
    kind = raw["kind"]
    if kind not in RULE_KINDS:
        return [f"unknown kind {kind!r}"]
    problems = _identity_problems(raw)
    unknown = sorted(raw.keys() - _COMMON - _EXTRA_FIELDS[kind])
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)} for kind {kind}")
    problems += _strategy_problems(raw["strategies"])
    if not isinstance(raw.get("unless_other_wants_less", False), bool):
        problems.append("unless_other_wants_less must be true or false")
    reference_problems = _reference_problems(raw, intake)
    problems += reference_problems
    if not reference_problems:
        problems += _threshold_problems(raw, intake)
    return problems


def _identity_problems(raw: Mapping[str, Any]) -> list[str]:
    problems = []
    if not _RULE_ID.match(str(raw["id"])):
        problems.append("id must look like R-ABC-01")
    if (
        not isinstance(raw["version"], int)
        or isinstance(raw["version"], bool)
        or raw["version"] < 1
    ):
        problems.append("version must be a whole number from 1")
    if raw["challenge"] not in CHALLENGES:
        problems.append(f"unknown challenge key {raw['challenge']!r}")
    if raw["kind"] == "individual" and raw.get("measure") not in MEASURES:
        problems.append(f"measure must be one of {', '.join(MEASURES)}")
    return problems


def _strategy_problems(strategies: object) -> list[str]:
    # May be empty: a rule whose concern must first be explored with each partner alone
    # (monitoring, hidden money) suggests no joint exercise.
    if not isinstance(strategies, list):
        return ["strategies must be a list"]
    unknown = [key for key in strategies if key not in STRATEGY_KEYS]
    return [f"unknown strategy key {key!r}" for key in unknown]


def _reference_problems(raw: Mapping[str, Any], intake: Instrument) -> list[str]:
    """Every item or domain a rule names must exist in the intake, with the right kind."""
    kind = raw["kind"]
    wanted: list[tuple[str, object]] = []  # (what it must be, the name given)
    if kind == "individual" and raw.get("measure") == "concern_mean":
        items = raw.get("items")
        if not isinstance(items, list) or not items:
            return ["items must be a non-empty list"]
        wanted += [("likert", item) for item in items]
        min_answered = raw.get("min_answered", 1)
        if not isinstance(min_answered, int) or not 1 <= min_answered <= len(items):
            return [f"min_answered must be a whole number from 1 to {len(items)}"]
    elif kind == "individual" or kind == "dyadic_both_low":
        wanted.append(("domain", raw.get("domain")))
    elif kind == "hours_shortfall":
        wanted += [("hours", raw.get("current")), ("hours", raw.get("desired"))]
    elif kind == "dyadic_opposite":
        wanted += [("likert", raw.get("pursue_item")), ("likert", raw.get("withdraw_item"))]
    elif ("domain" in raw) == ("item" in raw):
        return ["dyadic_gap needs exactly one of domain or item"]
    else:
        wanted.append(("domain", raw["domain"]) if "domain" in raw else ("gap item", raw["item"]))
        if "directions_from" in raw:
            wanted.append(("hours", raw["directions_from"]))
    problems = [problem for need, name in wanted if (problem := _check_ref(need, name, intake))]
    return problems or _key_item_problems(raw, intake)


def _key_item_problems(raw: Mapping[str, Any], intake: Instrument) -> list[str]:
    """A key item must be one the rule already reads: it sharpens the rule, never widens it."""
    if "key_items" not in raw:
        return []
    keys = raw["key_items"]
    if not isinstance(keys, list) or not keys:
        return ["key_items must be a non-empty list"]
    if raw.get("measure") == "domain_score":
        read = {item.id for item in intake.domain_items(raw["domain"]) if item.kind == "likert"}
    else:
        read = set(raw["items"])
    return [f"key item {key!r} is not one the rule reads" for key in keys if key not in read]


def _check_ref(need: str, name: object, intake: Instrument) -> str | None:
    label = f"intake v{intake.version}"
    if need == "domain":
        return None if name in intake.domains else f"unknown domain {name!r} in {label}"
    if not isinstance(name, str) or not intake.has_item(name):
        return f"unknown item id {name!r} in {label}"
    kind = intake.item(name).kind
    allowed = ("likert", "hours") if need == "gap item" else (need,)
    return None if kind in allowed else f"item {name!r} is {kind}, expected {' or '.join(allowed)}"


def _threshold_problems(raw: Mapping[str, Any], intake: Instrument) -> list[str]:
    thresholds = raw["thresholds"]
    if not isinstance(thresholds, dict) or not thresholds:
        return ["thresholds must be a table such as { low = 3.5, high = 4.5 }"]
    bad_levels = sorted(set(thresholds) - set(SEVERITIES))
    if bad_levels:
        return [f"unknown severity level(s) {', '.join(bad_levels)}"]
    values = [thresholds[level] for level in SEVERITIES if level in thresholds]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return ["thresholds must be numbers"]
    low, high = _threshold_range(raw, intake)
    problems = [f"threshold {v} is outside {low}–{high}" for v in values if not low <= v <= high]
    descending = _low_is_worse(raw["kind"], raw.get("measure"))
    ordered = sorted(values, reverse=descending)
    if ordered != values or len(set(values)) != len(values):
        direction = "fall" if descending else "rise"
        problems.append(f"thresholds must strictly {direction} from low to high severity")
    return problems


def _threshold_range(raw: Mapping[str, Any], intake: Instrument) -> tuple[float, float]:
    """The values a threshold can meaningfully take for this kind of comparison."""
    kind = raw["kind"]
    if kind in ("hours_shortfall",) or (kind == "dyadic_gap" and _is_hours_gap(raw, intake)):
        return (1, _HOURS_MAX)
    if kind == "dyadic_gap":
        return (1, 4) if "item" in raw else (1, 100)  # answer steps on 1–5, or score points
    if kind == "dyadic_opposite" or raw.get("measure") == "concern_mean":
        return (1, 5)
    return (0, 100)  # domain scores


def _is_hours_gap(raw: Mapping[str, Any], intake: Instrument) -> bool:
    return "item" in raw and intake.item(raw["item"]).kind == "hours"


# ------------------------------------------------------------------------------------ building
def _build_rule(raw: Mapping[str, Any], intake: Instrument) -> Rule:
    thresholds = tuple(
        (level, float(raw["thresholds"][level]))
        for level in SEVERITIES
        if level in raw["thresholds"]
    )
    rule = Rule(
        id=raw["id"],
        version=raw["version"],
        challenge=raw["challenge"],
        kind=raw["kind"],
        title=" ".join(raw["title"].split()),
        description=" ".join(raw["description"].split()),
        thresholds=thresholds,
        strategies=tuple(raw["strategies"]),
        measure=raw.get("measure"),
        items=tuple(raw.get("items", ())),
        domain=raw.get("domain"),
        item=raw.get("item"),
        current=raw.get("current"),
        desired=raw.get("desired"),
        pursue_item=raw.get("pursue_item"),
        withdraw_item=raw.get("withdraw_item"),
        min_answered=raw.get("min_answered"),
        key_items=tuple(raw.get("key_items", ())),
        unless_other_wants_less=raw.get("unless_other_wants_less", False),
        directions_from=raw.get("directions_from"),
        unit=_unit(raw, intake),
    )
    return _with_reads(rule, intake)


def _unit(raw: Mapping[str, Any], intake: Instrument) -> str:
    kind = raw["kind"]
    if kind == "hours_shortfall" or (kind == "dyadic_gap" and _is_hours_gap(raw, intake)):
        return "hours"
    if kind == "dyadic_opposite" or (kind == "dyadic_gap" and "item" in raw):
        return "steps"  # whole answers (or differences between answers) on the 1–5 scale
    return "mean" if raw.get("measure") == "concern_mean" else "points"


def _with_reads(rule: Rule, intake: Instrument) -> Rule:
    if rule.domain:
        reads = tuple(item.id for item in intake.domain_items(rule.domain))
    else:
        named = (
            rule.item,
            rule.directions_from,
            rule.current,
            rule.desired,
            rule.pursue_item,
            rule.withdraw_item,
        )
        reads = rule.items + tuple(name for name in named if name)
    return replace(rule, reads=reads)
