"""The challenge rules as data: parse ``rules_v<N>.toml`` and refuse a ruleset that is wrong.

A rule that names an item the intake does not have, a challenge or strategy nobody knows, or
thresholds that run the wrong way would silently never fire (or always fire). Validation runs at
load and reports every problem at once, naming the rule, so the file can be fixed in one pass.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
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

_RULE_ID = re.compile(r"^R-[A-Z]+-\d{2}$")
_FILE_NAME = re.compile(r"^rules_v(?P<version>\d+)\.toml$")
_COMMON = frozenset(
    {"id", "version", "challenge", "kind", "title", "description", "thresholds", "strategies"}
)
_EXTRA_FIELDS: dict[str, frozenset[str]] = {
    "individual": frozenset({"measure", "items", "domain", "min_answered"}),
    "hours_shortfall": frozenset({"current", "desired"}),
    "dyadic_gap": frozenset({"domain", "item"}),
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
    reads: tuple[str, ...] = ()  # every intake item the rule looks at: shown as its evidence

    @property
    def dyadic(self) -> bool:
        return self.kind in DYADIC_KINDS

    @property
    def low_is_worse(self) -> bool:
        """Domain scores are high = healthy, so those rules fire at or BELOW their threshold."""
        return _low_is_worse(self.kind, self.measure)


@dataclass(frozen=True)
class Ruleset:
    id: str
    version: int
    intake_id: str
    intake_version: int
    rules: tuple[Rule, ...]

    def for_challenge(self, key: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.challenge == key)


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


def parse_ruleset(data: Mapping[str, Any], intake: Instrument | None = None) -> Ruleset:
    """Validate and build a ruleset; raise RulesetError listing every problem."""
    head = data.get("ruleset", {})
    name = f"ruleset {head.get('id', '?')} v{head.get('version', '?')}"
    missing = [key for key in ("id", "version", "intake", "intake_version") if key not in head]
    if missing:
        raise RulesetError(name, [f"[ruleset] is missing {', '.join(missing)}"])
    intake = intake or registry.load(head["intake"], head["intake_version"])
    problems: list[str] = []
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
    return Ruleset(head["id"], head["version"], intake.id, intake.version, tuple(rules))


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
    if not isinstance(strategies, list) or not strategies:
        return ["strategies must be a non-empty list"]
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
    return [problem for need, name in wanted if (problem := _check_ref(need, name, intake))]


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
    )
    return _with_reads(rule, intake)


def _with_reads(rule: Rule, intake: Instrument) -> Rule:
    if rule.domain:
        reads = tuple(item.id for item in intake.domain_items(rule.domain))
    else:
        named = (rule.item, rule.current, rule.desired, rule.pursue_item, rule.withdraw_item)
        reads = rule.items + tuple(name for name in named if name)
    return replace(rule, reads=reads)
