"""The project's case bank (tests/cases/*.toml): couple presentations, each answered in three styles,
and how well the flag rules recognise them.

A case is a short story with, per partner, the intake statements the story NAMES (and whether that
partner would agree or disagree), the statements of the same areas the story IMPLIES, realistic
hours, the flags a careful therapist expects and the flags that clearly do not apply. The cases
are written from clinical judgement, not from the rules: a rule that misses one is the finding.

Each case is answered in three styles, because real partners answer the same story differently:
  clear     named statements at the far end of the scale, implied ones at agree/disagree;
  moderate  named and implied statements at agree/disagree, never "strongly";
  sparse    only the named statements move (to the far end); everything else at BASELINE.
Hours and background answers are facts of the story, the same in every style.
BASELINE is an ordinary, mostly-fine partner: "disagree" with every worry, "agree" with every
healthy statement, no lean on the two preference statements, typical hours. It raises no flag.

Precision and recall are micro-averaged over case x challenge. Only `must_not` flags count as
false alarms: a flag the story neither expects nor rules out is the therapist's call.

`python -m tests.case_bank` (from the project folder) prints the table for rules v1 and for the
newest ruleset, with every miss and false alarm, for the issue note.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from counselor_app.flags import (
    CHALLENGES,
    Evaluation,
    Ruleset,
    SuggestedFlag,
    evaluate,
    load_ruleset,
)
from counselor_app.flags.engine import Reading
from counselor_app.instruments import Instrument, Item, load

CASES_DIR = Path(__file__).parent / "cases"
STYLES = ("clear", "moderate", "sparse")
MIN_SCORE = 0.9  # precision and recall a ruleset must reach in every style

STRONGLY_AGREE, AGREE, NEITHER, DISAGREE, STRONGLY_DISAGREE = 5, 4, 3, 2, 1
# style -> (agree, disagree) values for the named statements, then for the implied ones
# (None: implied statements stay at the baseline).
LEVELS: dict[str, tuple[tuple[int, int], tuple[int, int] | None]] = {
    "clear": ((STRONGLY_AGREE, STRONGLY_DISAGREE), (AGREE, DISAGREE)),
    "moderate": ((AGREE, DISAGREE), (AGREE, DISAGREE)),
    "sparse": ((STRONGLY_AGREE, STRONGLY_DISAGREE), None),
}
BASELINE_BACKGROUND: dict[str, int | str] = {
    "bg_stage": "married",
    "bg_length": "4_7",
    "bg_live_together": "yes",
    "bg_children": "none",
    "bg_prior_counselling": "no",
    # A working couple's ordinary week: a couple of evenings and part of the weekend together,
    # an evening or two to themselves, each wishing for a little more of both.
    "bg_hours_together_now": 15,
    "bg_hours_together_want": 20,
    "bg_hours_alone_now": 8,
    "bg_hours_alone_want": 10,
}

_CASE_KEYS = {"id", "story", "source", "expected", "must_not", "background", "a", "b"}
_PARTNER_KEYS = {"agree", "disagree", "also_agree", "also_disagree", "hours"}
_SAFETY_KEYS = {"id", "story", "a", "b", "positive_a", "positive_b"}


class CaseError(ValueError):
    """A case file that cannot be read as written: fix the file rather than guess."""


@dataclass(frozen=True)
class PartnerStory:
    agree: tuple[str, ...] = ()  # statements the story names, which this partner agrees with
    disagree: tuple[str, ...] = ()
    also_agree: tuple[str, ...] = ()  # statements of the same areas the story implies
    also_disagree: tuple[str, ...] = ()
    hours: Mapping[str, int] | None = None

    @property
    def statements(self) -> tuple[str, ...]:
        return self.agree + self.disagree + self.also_agree + self.also_disagree


@dataclass(frozen=True)
class Case:
    id: str
    file: str
    story: str
    source: str
    expected: frozenset[str]
    must_not: frozenset[str]
    background: Mapping[str, str]
    a: PartnerStory
    b: PartnerStory


@dataclass(frozen=True)
class SafetyCase:
    id: str
    story: str
    a: Mapping[str, str]  # the screen's answers that differ from an all-clear screen
    b: Mapping[str, str]
    positive_a: tuple[str, ...]  # the items a therapist must see flagged for each partner
    positive_b: tuple[str, ...]


# -------------------------------------------------------------------------------------- loading
def load_cases(folder: Path = CASES_DIR) -> tuple[Case, ...]:
    return tuple(
        _case(raw, path.name) for path in _files(folder) for raw in _read(path).get("case", [])
    )


def load_safety_cases(folder: Path = CASES_DIR) -> tuple[SafetyCase, ...]:
    return tuple(
        _safety_case(raw) for path in _files(folder) for raw in _read(path).get("safety", [])
    )


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.toml"))


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _case(raw: Mapping[str, Any], file: str) -> Case:
    name = f"{file}: {raw.get('id', '<case without id>')}"
    _check_keys(name, raw, _CASE_KEYS, required={"id", "story", "expected", "must_not"})
    expected, must_not = frozenset(raw["expected"]), frozenset(raw["must_not"])
    unknown = sorted((expected | must_not) - CHALLENGES.keys())
    if unknown:
        raise CaseError(f"{name}: unknown challenge key(s) {unknown}")
    if expected & must_not:
        raise CaseError(f"{name}: both expected and ruled out: {sorted(expected & must_not)}")
    return Case(
        id=raw["id"],
        file=file,
        story=" ".join(raw["story"].split()),
        source=raw.get("source", ""),
        expected=expected,
        must_not=must_not,
        background=raw.get("background", {}),
        a=_partner(f"{name} partner A", raw.get("a", {})),
        b=_partner(f"{name} partner B", raw.get("b", {})),
    )


def _partner(name: str, raw: Mapping[str, Any]) -> PartnerStory:
    _check_keys(name, raw, _PARTNER_KEYS)
    story = PartnerStory(
        agree=tuple(raw.get("agree", ())),
        disagree=tuple(raw.get("disagree", ())),
        also_agree=tuple(raw.get("also_agree", ())),
        also_disagree=tuple(raw.get("also_disagree", ())),
        hours=raw.get("hours"),
    )
    twice = sorted({s for s in story.statements if story.statements.count(s) > 1})
    if twice:
        raise CaseError(f"{name}: statement(s) listed more than once: {twice}")
    return story


def _safety_case(raw: Mapping[str, Any]) -> SafetyCase:
    name = f"safety case {raw.get('id', '<without id>')}"
    _check_keys(name, raw, _SAFETY_KEYS, required=_SAFETY_KEYS)
    return SafetyCase(
        raw["id"],
        " ".join(raw["story"].split()),
        raw["a"],
        raw["b"],
        tuple(raw["positive_a"]),
        tuple(raw["positive_b"]),
    )


def _check_keys(
    name: str, raw: Mapping[str, Any], allowed: set[str], required: Iterable[str] = ()
) -> None:
    unknown = sorted(raw.keys() - allowed)
    missing = sorted(set(required) - raw.keys())
    if unknown or missing:
        raise CaseError(f"{name}: unknown keys {unknown}, missing keys {missing}")


def unknown_items(case: Case, intake: Instrument) -> list[str]:
    """What a case names that this intake does not ask, or asks in another form (a misspelling,
    or a statement of a later intake version)."""
    problems = []
    for partner, story in (("A", case.a), ("B", case.b)):
        problems += [
            f"{partner} {item_id}"
            for item_id in story.statements
            if not _is(intake, item_id, "likert")
        ]
        problems += [
            f"{partner} {item_id}"
            for item_id in story.hours or {}
            if not _is(intake, item_id, "hours")
        ]
    problems += [item_id for item_id in case.background if not _is(intake, item_id, "choice")]
    return problems


def _is(intake: Instrument, item_id: str, kind: str) -> bool:
    return intake.has_item(item_id) and intake.item(item_id).kind == kind


# -------------------------------------------------------------------------------------- answers
def baseline(intake: Instrument) -> dict[str, int | str]:
    """An ordinary, mostly-fine partner's answers to this intake."""
    return {
        **BASELINE_BACKGROUND,
        **{item.id: _ordinary(item) for item in intake.items if item.kind == "likert"},
    }


def _ordinary(item: Item) -> int:
    if item.domain is None:  # wanting more time together / apart: a preference, no lean either way
        return NEITHER
    return DISAGREE if item.reverse else AGREE  # reverse items are the worries


def answers(case: Case, partner: str, style: str, intake: Instrument) -> dict[str, int | str]:
    """One partner's answers to ``intake`` in ``style``. Statements the intake version does not
    have are left out, as they would be for a partner answering that version."""
    story = case.a if partner == "A" else case.b
    (named_yes, named_no), implied = LEVELS[style]
    moves = [(story.agree, named_yes), (story.disagree, named_no)]
    if implied is not None:
        moves += [(story.also_agree, implied[0]), (story.also_disagree, implied[1])]
    values = {**baseline(intake), **case.background, **(story.hours or {})}
    for item_ids, value in moves:
        values.update({item_id: value for item_id in item_ids if intake.has_item(item_id)})
    return values


def run(case: Case, style: str, ruleset: Ruleset) -> Evaluation:
    intake = load(ruleset.intake_id, ruleset.intake_version)
    return evaluate(
        answers(case, "A", style, intake),
        answers(case, "B", style, intake),
        intake=intake,
        ruleset=ruleset,
    )


# ------------------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class StyleScore:
    style: str
    found: tuple[tuple[str, str], ...]  # (case id, challenge) expected and raised
    missed: tuple[tuple[str, str], ...]  # expected, not raised
    unwanted: tuple[tuple[str, str], ...]  # ruled out, raised anyway

    @property
    def precision(self) -> float:
        raised = len(self.found) + len(self.unwanted)
        return len(self.found) / raised if raised else 1.0

    @property
    def recall(self) -> float:
        expected = len(self.found) + len(self.missed)
        return len(self.found) / expected if expected else 1.0

    @property
    def passes(self) -> bool:
        return self.precision >= MIN_SCORE and self.recall >= MIN_SCORE


def raised(evaluation: Evaluation) -> frozenset[str]:
    """Every flag the therapist is shown, borderline ones included."""
    return frozenset(flag.challenge_key for flag in evaluation.flags)


def score_style(cases: Iterable[Case], style: str, ruleset: Ruleset) -> StyleScore:
    found: list[tuple[str, str]] = []
    missed: list[tuple[str, str]] = []
    unwanted: list[tuple[str, str]] = []
    for case in cases:
        flags = raised(run(case, style, ruleset))
        found += [(case.id, key) for key in sorted(case.expected & flags)]
        missed += [(case.id, key) for key in sorted(case.expected - flags)]
        unwanted += [(case.id, key) for key in sorted(case.must_not & flags)]
    return StyleScore(style, tuple(found), tuple(missed), tuple(unwanted))


def on_threshold(case: Case, style: str, ruleset: Ruleset) -> list[str]:
    """Expected flags raised only by numbers landing exactly on a rule's threshold, with no
    strongly endorsed key item and no endorsement count behind them: one answer a step milder
    and the therapist would not see them. Returned as readable lines."""
    return [line for flag in run(case, style, ruleset).flags if (line := _exact(case, style, flag))]


def _exact(case: Case, style: str, flag: SuggestedFlag) -> str | None:
    """The flag as a line when it is expected and rests only on exact thresholds, else None."""
    if flag.challenge_key not in case.expected:
        return None
    met = [reading for hit in flag.hits for reading in hit.readings if reading.met]
    if met and all(_only_exactly_at_threshold(r) for r in met):
        details = " | ".join(hit.detail for hit in flag.hits)
        return f"{case.id} ({style}): {flag.challenge_key}: {details}"
    return None


def _only_exactly_at_threshold(reading: Reading) -> bool:
    return reading.beyond == 0 and not reading.key_items and not reading.broadly_endorsed


# --------------------------------------------------------------------------------------- table
def table(cases: tuple[Case, ...], ruleset: Ruleset) -> str:
    scores = [score_style(cases, style, ruleset) for style in STYLES]
    expected = sum(len(case.expected) for case in cases)
    lines = [
        f"Rules v{ruleset.version} (intake v{ruleset.intake_version}): {len(cases)} cases, "
        f"{expected} expected flags per style",
        "",
        "| style | precision | recall | found | missed | false alarms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.style} | {s.precision:.2f} | {s.recall:.2f} | {len(s.found)} | "
        f"{len(s.missed)} | {len(s.unwanted)} |"
        for s in scores
    ]
    for score in scores:
        if score.missed:
            lines.append(f"\nMissed ({score.style}): " + pairs_text(score.missed))
        if score.unwanted:
            lines.append(f"\nFalse alarms ({score.style}): " + pairs_text(score.unwanted))
    exact = [
        line for style in STYLES for case in cases for line in on_threshold(case, style, ruleset)
    ]
    if exact:
        lines.append("\nExpected flags raised only exactly at a threshold:")
        lines += [f"- {line}" for line in exact]
    return "\n".join(lines)


def pairs_text(pairs: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{case_id}: {key}" for case_id, key in pairs)


def main() -> None:
    cases = load_cases()
    newest = load_ruleset()
    for version in sorted({1, newest.version}):
        print(table(cases, load_ruleset(version)), end="\n\n")


if __name__ == "__main__":
    main()
