"""The strategy library as data: parse ``strategies_v<N>.toml`` and refuse a library that is wrong.

One strategy per key in ``STRATEGY_KEYS``, each with therapist guidance, a plain-language
explanation for the couple, steps, homework and reflection questions. The challenge rules name
strategies by key, so the library must cover every key, and a strategy must list every challenge
whose rule suggests it; otherwise a confirmed flag could point at an intervention that says it is
for something else. Validation runs at load and reports every problem at once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from counselor_app.flags import CHALLENGES, STRATEGY_KEYS, Ruleset, load_ruleset

# Fields a therapist may override for one couple (the rest is structure: key, challenges, minutes).
TEXT_FIELDS: tuple[str, ...] = (
    "title",
    "therapist_guidance",
    "client_explanation",
    "steps",
    "homework",
    "reflection_questions",
)
MINUTES_RANGE = (5, 40)
STEPS_RANGE = (3, 6)
QUESTIONS_RANGE = (2, 3)
MIN_STRATEGIES_PER_CHALLENGE = 2

_PACKAGE = "counselor_app.library"
_FILE_NAME = re.compile(r"^strategies_v(?P<version>\d+)\.toml$")
_LIBRARY_ID = "strategies"
_FIELDS = frozenset({"key", "challenges", "minutes", *TEXT_FIELDS})
_PARAGRAPHS = ("title", "therapist_guidance", "client_explanation", "homework")
_LISTS = {"steps": STEPS_RANGE, "reflection_questions": QUESTIONS_RANGE}


class LibraryError(ValueError):
    """A strategy library that must not be used; ``problems`` lists every fault found."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"{name} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Strategy:
    key: str
    title: str
    challenges: tuple[str, ...]
    minutes: int
    therapist_guidance: str
    client_explanation: str
    steps: tuple[str, ...]
    homework: str
    reflection_questions: tuple[str, ...]


@dataclass(frozen=True)
class Library:
    id: str
    version: int
    strategies: tuple[Strategy, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(strategy.key for strategy in self.strategies)

    def get(self, key: str) -> Strategy:
        for strategy in self.strategies:
            if strategy.key == key:
                return strategy
        raise KeyError(f"no strategy {key!r} in {self.id} v{self.version}")

    def for_challenge(self, challenge_key: str) -> tuple[Strategy, ...]:
        """The strategies that address ``challenge_key``, in file order."""
        return tuple(s for s in self.strategies if challenge_key in s.challenges)

    def __iter__(self) -> Iterator[Strategy]:
        return iter(self.strategies)

    def __len__(self) -> int:
        return len(self.strategies)


# ------------------------------------------------------------------------------------- loading
@cache
def available_versions() -> tuple[int, ...]:
    entries = resources.files(_PACKAGE).iterdir()
    found = (_FILE_NAME.match(entry.name) for entry in entries)
    return tuple(sorted(int(match["version"]) for match in found if match))


def load_library(version: int | None = None) -> Library:
    """The shipped library at ``version`` (latest when None), validated and cached."""
    versions = available_versions()
    if not versions:
        raise LibraryError("strategy library", ["no strategies_v<N>.toml file in the package"])
    return _load(versions[-1] if version is None else version)


@cache
def _load(version: int) -> Library:
    name = f"strategies_v{version}.toml"
    if version not in available_versions():
        raise LibraryError(name, [f"no version {version} of the strategy library"])
    resource = resources.files(_PACKAGE) / name
    library = parse_library(tomllib.loads(resource.read_text(encoding="utf-8")))
    if library.version != version:
        raise LibraryError(name, [f"file declares version {library.version}"])
    return library


# ------------------------------------------------------------------------------------- parsing
def parse_library(data: Mapping[str, Any], ruleset: Ruleset | None = None) -> Library:
    """Validate and build a library; raise LibraryError listing every problem.

    ``ruleset`` is the challenge ruleset the library must agree with (the shipped one when None).
    """
    name = f"strategy library {data.get('id', '?')} v{data.get('version', '?')}"
    problems = _head_problems(data)
    raw_strategies = data.get("strategies")
    if not isinstance(raw_strategies, list) or not raw_strategies:
        raise LibraryError(name, [*problems, "strategies must be a non-empty list of tables"])

    built: list[Strategy] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_strategies, start=1):
        if not isinstance(raw, Mapping):
            problems.append(f"strategy #{index}: must be a table")
            continue
        label = str(raw.get("key", f"strategy #{index}"))
        faults = _strategy_problems(raw)
        if raw.get("key") in seen:
            faults.append("duplicate strategy key")
        seen.add(str(raw.get("key")))
        problems += [f"{label}: {fault}" for fault in faults]
        if not faults:
            built.append(_build(raw))

    missing = [key for key in STRATEGY_KEYS if key not in seen]
    if missing:
        problems.append(f"missing strategy key(s) {', '.join(missing)}")
    if not problems:
        problems += _coverage_problems(built)
        problems += _ruleset_problems(built, ruleset or load_ruleset())
    if problems:
        raise LibraryError(name, problems)
    return Library(data["id"], data["version"], tuple(built))


def _head_problems(data: Mapping[str, Any]) -> list[str]:
    problems = []
    if data.get("id") != _LIBRARY_ID:
        problems.append(f"id must be {_LIBRARY_ID!r}")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        problems.append("version must be a whole number from 1")
    unknown = sorted(set(data) - {"id", "version", "strategies"})
    if unknown:
        problems.append(f"unknown top-level field(s) {', '.join(unknown)}")
    return problems


def _strategy_problems(raw: Mapping[str, Any]) -> list[str]:
    missing = sorted(_FIELDS - raw.keys())
    if missing:
        return [f"missing {', '.join(missing)}"]
    problems = []
    unknown = sorted(raw.keys() - _FIELDS)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}")
    if raw["key"] not in STRATEGY_KEYS:
        problems.append(f"unknown strategy key {raw['key']!r}")
    problems += _challenge_problems(raw["challenges"])
    low, high = MINUTES_RANGE
    if not _is_int(raw["minutes"]) or not low <= raw["minutes"] <= high:
        problems.append(f"minutes must be a whole number from {low} to {high}")
    for field in _PARAGRAPHS:
        if not _text(raw[field]):
            problems.append(f"{field} must be non-empty text")
    for field, (low, high) in _LISTS.items():
        problems += _list_problems(field, raw[field], low, high)
    return problems


def _challenge_problems(challenges: object) -> list[str]:
    if not isinstance(challenges, list) or not challenges:
        return ["challenges must be a non-empty list"]
    problems = [f"unknown challenge key {key!r}" for key in challenges if key not in CHALLENGES]
    if len(set(map(str, challenges))) != len(challenges):
        problems.append("challenges lists a key twice")
    return problems


def _list_problems(field: str, value: object, low: int, high: int) -> list[str]:
    if not isinstance(value, list):
        return [f"{field} must be a list of text"]
    problems = []
    if not low <= len(value) <= high:
        problems.append(f"{field} must have {low} to {high} entries, not {len(value)}")
    if not all(_text(entry) for entry in value):
        problems.append(f"{field} has an empty or non-text entry")
    return problems


def _coverage_problems(strategies: list[Strategy]) -> list[str]:
    problems = []
    for challenge in CHALLENGES:
        count = sum(challenge in s.challenges for s in strategies)
        if count < MIN_STRATEGIES_PER_CHALLENGE:
            problems.append(
                f"challenge {challenge!r} is addressed by {count} strateg"
                f"{'y' if count == 1 else 'ies'}; at least {MIN_STRATEGIES_PER_CHALLENGE} needed"
            )
    return problems


def _ruleset_problems(strategies: list[Strategy], ruleset: Ruleset) -> list[str]:
    """Every (challenge, strategy) link a rule makes must be listed by that strategy."""
    by_key = {s.key: s for s in strategies}
    problems = []
    for rule in ruleset.rules:
        for key in rule.strategies:
            strategy = by_key.get(key)
            if strategy is not None and rule.challenge not in strategy.challenges:
                problems.append(
                    f"{key}: rule {rule.id} suggests it for {rule.challenge!r}, "
                    "which its challenges do not list"
                )
    return list(dict.fromkeys(problems))


# ------------------------------------------------------------------------------------ building
def _build(raw: Mapping[str, Any]) -> Strategy:
    return Strategy(
        key=raw["key"],
        title=_paragraph(raw["title"]),
        challenges=tuple(raw["challenges"]),
        minutes=raw["minutes"],
        therapist_guidance=_paragraph(raw["therapist_guidance"]),
        client_explanation=_paragraph(raw["client_explanation"]),
        steps=tuple(_paragraph(step) for step in raw["steps"]),
        homework=_paragraph(raw["homework"]),
        reflection_questions=tuple(_paragraph(q) for q in raw["reflection_questions"]),
    )


def _paragraph(text: str) -> str:
    """Multi-line TOML strings read as one paragraph: all runs of whitespace become one space."""
    return " ".join(text.split())


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
