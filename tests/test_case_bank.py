"""The case bank (tests/cases/) against the newest flag rules: precision and recall in every
answering style, no expected flag resting exactly on a threshold, and the safety screen cases.

Pure Python, no database: see tests/case_bank.py for how cases become answers.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files

from counselor_app.flags import CHALLENGES, evaluate, evaluate_safety, load_ruleset
from counselor_app.flags.rules import Ruleset, parse_ruleset
from counselor_app.instruments import SAFETY_ID, Item, load

try:  # tests/ is a plain folder (prepend import mode) or a package, depending on the runner
    import case_bank as bank
except ModuleNotFoundError:  # pragma: no cover
    from tests import case_bank as bank

RULESET = load_ruleset()


def _with_line_on_agree() -> Ruleset:
    """The newest rules with R-FAM-02's line put on "Agree" (4), where v1 had it."""
    data = tomllib.loads((files("counselor_app.flags") / "rules_v2.toml").read_text())
    for rule in data["rules"]:
        if rule["id"] == "R-FAM-02":
            rule["thresholds"] = {"moderate": 4, "high": 5}
    return parse_ruleset(data)


LINE_ON_AGREE = _with_line_on_agree()
INTAKE = load(RULESET.intake_id, RULESET.intake_version)
CASES = bank.load_cases()
SAFETY_CASES = bank.load_safety_cases()


def test_the_bank_is_broad_well_formed_and_its_baseline_is_quiet() -> None:
    ids = [case.id for case in CASES] + [case.id for case in SAFETY_CASES]
    assert len(CASES) >= 40 and len(SAFETY_CASES) >= 4
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert {key for case in CASES for key in case.expected} == set(CHALLENGES)
    assert any(not case.expected and case.must_not == set(CHALLENGES) for case in CASES)
    unknown = {case.id: bad for case in CASES if (bad := bank.unknown_items(case, INTAKE))}
    assert not unknown, f"not statements of intake v{INTAKE.version}: {unknown}"
    quiet = evaluate(bank.baseline(INTAKE), bank.baseline(INTAKE), ruleset=RULESET)
    assert quiet.flags == (), "the ordinary baseline partner must raise no flag"


def test_precision_and_recall_reach_the_bar_in_every_style() -> None:
    scores = [bank.score_style(CASES, style, RULESET) for style in bank.STYLES]
    failing = [score for score in scores if not score.passes]
    assert not failing, f"rules v{RULESET.version} below {bank.MIN_SCORE}:\n" + "\n".join(
        f"{s.style}: precision {s.precision:.2f}, recall {s.recall:.2f}; "
        f"missed {bank.pairs_text(s.missed) or 'none'}; "
        f"false alarms {bank.pairs_text(s.unwanted) or 'none'}"
        for s in failing
    )


def test_no_expected_flag_rests_exactly_on_a_threshold() -> None:
    exact = [
        line
        for style in bank.STYLES
        for case in CASES
        for line in bank.on_threshold(case, style, RULESET)
    ]
    assert not exact, "one answer milder and these flags would vanish:\n" + "\n".join(exact)


def test_safety_cases_alert_on_exactly_the_positive_answers() -> None:
    screen = load(SAFETY_ID)
    clear = {item.id: _clear_answer(item) for item in screen.items if item.kind == "choice"}
    wrong = {}
    for case in SAFETY_CASES:
        alert = evaluate_safety({**clear, **case.a}, {**clear, **case.b}, instrument=screen)
        shown = (alert.positive_items_a, alert.positive_items_b) if alert else ((), ())
        if shown != (case.positive_a, case.positive_b):
            wrong[case.id] = shown
    assert not wrong, f"positive items shown differ from the case: {wrong}"


def _clear_answer(item: Item) -> str:
    """The one answer to a screen question that is not positive."""
    (answer,) = [str(option.value) for option in item.options if not option.positive]
    return answer


def test_the_exact_threshold_check_reports_a_flag_resting_only_on_a_threshold() -> None:
    # "Agree" (not strongly) that the partner sides with their family, under rules whose
    # R-FAM-02 has its line on 4 (as v1 had): exactly on it, and no key item or endorsement
    # count backs it.
    lone = bank.Case(
        id="lone_agree",
        file="(test)",
        story="",
        source="",
        expected=frozenset({"family_social_expectations"}),
        must_not=frozenset(),
        background={},
        a=bank.PartnerStory(agree=("fam_partner_sides",)),
        b=bank.PartnerStory(),
    )
    (line,) = bank.on_threshold(lone, "moderate", LINE_ON_AGREE)
    assert line.startswith("lone_agree (moderate): family_social_expectations:")
    assert "mean concern 4 against a threshold of 4: exactly at it" in line
    # Backed by the endorsement count (two of four family statements endorsed, mean 3.5 exactly
    # on R-FAM-01's threshold): not reported.
    backed = bank.Case(
        **{
            **lone.__dict__,
            "a": bank.PartnerStory(agree=("fam_partner_sides", "fam_friends_pressure")),
        }
    )
    assert bank.on_threshold(backed, "moderate", LINE_ON_AGREE) == []
