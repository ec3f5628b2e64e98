"""The challenge rules and the flag engine, driven by the couple vignettes in vignettes.py.

These pin rules v1 on intake v1: couples whose intake was answered on version 1 are still flagged
by it, exactly as before. Rules v2 (key items, borderline margins, the new items) are tested in
test_rules_v2.py."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest

from counselor_app.flags import (
    CHALLENGES,
    SEVERITIES,
    STRATEGY_KEYS,
    RulesetError,
    evaluate,
    evaluate_safety,
    load_ruleset,
    parse_ruleset,
)
from counselor_app.flags.challenges import SEVERITY_RANK
from counselor_app.flags.rules import DYADIC_KINDS
from counselor_app.instruments import AnswerError, load, validate_answers

try:  # tests/ is a plain folder (prepend import mode) or a package, depending on the runner
    from vignettes import NEUTRAL, SAFE, VIGNETTES, Vignette, answers
except ModuleNotFoundError:  # pragma: no cover
    from tests.vignettes import NEUTRAL, SAFE, VIGNETTES, Vignette, answers

INTAKE = load("intake", 1)
RULESET = load_ruleset(1)
BY_NAME = {v.name: v for v in VIGNETTES}


def evaluate_v1(answers_a, answers_b):
    return evaluate(answers_a, answers_b, ruleset=RULESET)


def run(vignette: Vignette):
    return evaluate_v1(vignette.a, vignette.b)


def ids(vignettes: tuple[Vignette, ...]) -> list[str]:
    return [v.name for v in vignettes]


# ------------------------------------------------------------------------------------ vignettes
def test_there_are_enough_vignettes_and_names_are_unique() -> None:
    assert len(VIGNETTES) >= 12
    assert len(BY_NAME) == len(VIGNETTES)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=ids(VIGNETTES))
def test_vignette_raises_what_it_must(vignette: Vignette) -> None:
    evaluation = run(vignette)
    for key, partners in vignette.must_raise.items():
        flag = evaluation.flag(key)
        assert flag is not None, (
            f"{key} not raised; got {[f.challenge_key for f in evaluation.flags]}"
        )
        if partners is not None:
            assert flag.partners == partners, key


@pytest.mark.parametrize("vignette", VIGNETTES, ids=ids(VIGNETTES))
def test_vignette_does_not_raise_what_it_must_not(vignette: Vignette) -> None:
    raised = {flag.challenge_key for flag in run(vignette).flags}
    assert not raised & set(vignette.must_not_raise)
    if vignette.no_flags:
        assert raised == set()


@pytest.mark.parametrize(
    "vignette",
    [v for v in VIGNETTES if v.no_dyadic_hits],
    ids=ids(tuple(v for v in VIGNETTES if v.no_dyadic_hits)),
)
def test_no_comparison_between_partners_fires_when_none_is_expected(vignette: Vignette) -> None:
    kinds = {hit.kind for flag in run(vignette).flags for hit in flag.hits}
    assert not kinds & DYADIC_KINDS


@pytest.mark.parametrize("vignette", VIGNETTES, ids=ids(VIGNETTES))
def test_vignette_notes(vignette: Vignette) -> None:
    notes = run(vignette).notes
    if vignette.note_contains:
        assert any(vignette.note_contains in note for note in notes), notes
    if vignette.b is not None and vignette.a is not None:
        assert not any("dyadic flags" in note for note in notes)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=ids(VIGNETTES))
def test_safety_alert_only_where_a_screen_is_positive(vignette: Vignette) -> None:
    alert = evaluate_safety(vignette.safety_a, vignette.safety_b)
    if vignette.safety_alert_for:
        assert alert is not None and alert.partners == vignette.safety_alert_for
    else:
        assert alert is None


def test_union_of_vignettes_raises_all_twelve_challenges() -> None:
    raised = {flag.challenge_key for v in VIGNETTES for flag in run(v).flags}
    assert raised == set(CHALLENGES)
    expected = {key for v in VIGNETTES for key in v.must_raise}
    assert expected == set(CHALLENGES)  # and each is pinned by some vignette's expectations


# ------------------------------------------------------------------------------------- evidence
@pytest.mark.parametrize("vignette", VIGNETTES, ids=ids(VIGNETTES))
def test_evidence_shows_item_wording_and_each_partners_answer_label(vignette: Vignette) -> None:
    clean = {
        p: validate_answers(INTAKE, a) if a else None
        for p, a in (("A", vignette.a), ("B", vignette.b))
    }
    for flag in run(vignette).flags:
        assert flag.evidence, flag.challenge_key
        reads = {
            item_id for rule in RULESET.rules if rule.id in flag.rule_ids for item_id in rule.reads
        }
        assert {e.item_id for e in flag.evidence} == reads
        for evidence in flag.evidence:
            item = INTAKE.item(evidence.item_id)
            assert evidence.text == item.text
            for partner, shown in (("A", evidence.answer_a), ("B", evidence.answer_b)):
                answers = clean[partner]
                expected = item.label_for(answers.get(item.id)) if answers else None
                assert shown == expected


def test_money_flag_evidence_reads_like_the_partners_answers() -> None:
    flag = run(BY_NAME["money_fights"]).flag("financial_tension")
    assert flag is not None
    fair = next(e for e in flag.evidence if e.item_id == "fin_fair_decisions")
    assert fair.text == "The way we make decisions about money feels fair to me."
    assert (fair.answer_a, fair.answer_b) == ("Agree", "Strongly disagree")
    assert flag.rule_ids == ("R-FIN-01", "R-FIN-02")  # high (B's answers) before moderate (gap)
    assert flag.severity == "high"
    # Each partner's value against the threshold, in words (exact, not rounded onto a threshold).
    assert "A: mean concern 2.75 against a threshold of 3.5: 0.75 below" in flag.hits[0].detail
    assert "B: mean concern 4.75 against a threshold of 3.5: 1.25 above" in flag.hits[0].detail
    assert (
        "differ by 3 answer steps against a threshold of 2 answer steps: 1 answer step above"
        in (flag.hits[1].detail)
    )
    assert not any(hit.borderline for hit in flag.hits)  # v1 has no borderline margins


def test_hours_evidence_is_labelled_in_hours() -> None:
    flag = run(BY_NAME["pursue_withdraw"]).flag("mismatched_needs")
    assert flag is not None
    want = next(e for e in flag.evidence if e.item_id == "bg_hours_together_want")
    assert (want.answer_a, want.answer_b) == ("35 hours", "10 hours")


def test_missing_partner_has_no_answer_labels_in_evidence() -> None:
    flag = run(BY_NAME["one_partner_missing"]).flag("communication_gaps")
    assert flag is not None
    assert all(e.answer_b is None for e in flag.evidence)
    heard = next(e for e in flag.evidence if e.item_id == "com_feel_heard")
    assert heard.answer_a == "Strongly disagree"


# ----------------------------------------------------------------------------- merge and order
def test_several_rules_for_one_challenge_merge_into_one_flag() -> None:
    evaluation = run(BY_NAME["pursue_withdraw"])
    keys = [flag.challenge_key for flag in evaluation.flags]
    assert len(keys) == len(set(keys))
    flag = evaluation.flag("mismatched_needs")
    assert flag is not None
    assert flag.rule_ids == ("R-NEED-01", "R-NEED-02", "R-NEED-03")
    assert [hit.severity for hit in flag.hits] == ["high", "moderate", "moderate"]
    assert (flag.severity, flag.rule_id, flag.rule_version) == ("high", "R-NEED-01", 1)
    assert flag.title == CHALLENGES["mismatched_needs"][0]
    rules = [r for r in RULESET.rules if r.id in flag.rule_ids]
    union = {key for rule in rules for key in rule.strategies}
    assert set(flag.strategies) == union and len(flag.strategies) == len(union)
    assert flag.strategies[:2] == ("empathy_for_differences", "compromise")  # worst rule first
    item_ids = [e.item_id for e in flag.evidence]
    assert len(item_ids) == len(set(item_ids))


def test_merged_partners_are_the_union_of_the_rules_partners() -> None:
    flag = run(BY_NAME["money_fights"]).flag("financial_tension")
    assert flag is not None
    assert [hit.partners for hit in flag.hits] == [("B",), ("A", "B")]
    assert flag.partners == ("A", "B")


@pytest.mark.parametrize("vignette", VIGNETTES, ids=ids(VIGNETTES))
def test_flags_sorted_by_severity_then_key(vignette: Vignette) -> None:
    flags = run(vignette).flags
    order = [(-SEVERITY_RANK[f.severity], f.challenge_key) for f in flags]
    assert order == sorted(order)
    assert all(f.severity in SEVERITIES for f in flags)


def test_sort_order_on_a_busy_couple() -> None:
    flags = run(BY_NAME["extreme_opposites"]).flags
    assert [f.severity for f in flags][:4] == ["high"] * 4
    assert [f.challenge_key for f in flags][:4] == [
        "codependency_fear",
        "decision_imbalance",
        "family_social_expectations",
        "financial_tension",
    ]


# ---------------------------------------------------------------------------- engine behaviour
def test_pursue_withdraw_is_found_whichever_partner_pursues() -> None:
    vignette = BY_NAME["pursue_withdraw"]
    swapped = evaluate_v1(vignette.b, vignette.a).flag("mismatched_needs")
    assert swapped is not None and swapped.severity == "high"
    assert "B wants more time together, A more time alone" in swapped.hits[0].detail


def test_agreeing_with_both_wishes_is_not_pursue_withdraw() -> None:
    both = answers(need_more_together=5, need_more_space=5)
    flag = evaluate_v1(both, both).flag("mismatched_needs")
    assert flag is None or "R-NEED-01" not in flag.rule_ids


def test_threshold_boundaries_decide_severity() -> None:
    # R-FIN-02: gap on fin_fair_decisions, low from 2, moderate 3, high 4.
    for gap, severity in ((1, None), (2, "low"), (3, "moderate"), (4, "high")):
        flag = evaluate_v1(answers(fin_fair_decisions=1 + gap), answers(fin_fair_decisions=1)).flag(
            "financial_tension"
        )
        hit = next((h for h in flag.hits if h.rule_id == "R-FIN-02"), None) if flag else None
        assert (hit.severity if hit else None) == severity


def test_no_answers_at_all_gives_no_flags_and_says_so() -> None:
    evaluation = evaluate_v1(None, {})
    assert evaluation.flags == ()
    assert evaluation.notes == ("Neither partner's intake has answers yet: no flags are computed.",)


def test_only_partner_b_present_is_named_in_the_note() -> None:
    evaluation = evaluate_v1(None, answers(com_feel_heard=1, com_misunderstand=5, com_assume=5))
    assert evaluation.notes[0].startswith("Only partner B's intake is complete")
    flag = evaluation.flag("communication_gaps")
    assert flag is not None and flag.partners == ("B",)
    assert set(evaluation.scores) == {"B"}


def test_unanswered_required_items_are_noted() -> None:
    partial = {key: value for key, value in NEUTRAL.items() if not key.startswith("fin_")}
    partial["tog_gratitude"] = 4
    notes = evaluate_v1(partial, answers(tog_gratitude=4)).notes
    assert notes == (
        "Partner A left 4 required question(s) unanswered; flags that depend on them may be "
        "missing.",
    )


def test_answers_outside_the_intake_are_refused() -> None:
    with pytest.raises(AnswerError):
        evaluate_v1({**NEUTRAL, "fin_bitcoin": 5}, NEUTRAL)
    with pytest.raises(AnswerError):
        evaluate_v1({**NEUTRAL, "fin_argue": 9}, NEUTRAL)


def test_evaluation_records_what_it_used() -> None:
    evaluation = run(BY_NAME["money_fights"])
    assert (evaluation.ruleset_id, evaluation.ruleset_version) == ("challenge-rules", 1)
    assert (evaluation.intake_id, evaluation.intake_version) == ("intake", 1)
    assert evaluation.scores["A"]["independence"] == 50.0


# -------------------------------------------------------------------------------------- safety
def test_safety_alert_names_partner_items_and_labels() -> None:
    alert = evaluate_safety({**SAFE, "saf_fear": "yes"}, {**SAFE, "saf_speak_openly": "unsure"})
    assert alert is not None
    assert alert.partners == ("A", "B")
    assert (alert.positive_items_a, alert.positive_items_b) == (
        ("saf_fear",),
        ("saf_speak_openly",),
    )
    labels = {e.item_id: (e.answer_a, e.answer_b) for e in alert.evidence}
    assert labels == {"saf_fear": ("Yes", "No"), "saf_speak_openly": ("Yes", "Not sure")}


def test_no_safety_alert_without_answers_or_when_negative() -> None:
    assert evaluate_safety(None, None) is None
    assert evaluate_safety(SAFE, None) is None


def test_safety_is_never_a_challenge_flag() -> None:
    assert not any("saf" in key for key in CHALLENGES)
    assert all(not item_id.startswith("saf_") for rule in RULESET.rules for item_id in rule.reads)


# ------------------------------------------------------------------------------- the ruleset
def test_every_challenge_has_a_rule_and_at_least_two_strategies() -> None:
    for key in CHALLENGES:
        rules = RULESET.for_challenge(key)
        assert rules, key
        assert len({s for rule in rules for s in rule.strategies}) >= 2, key


def test_rule_strategies_come_from_the_library_vocabulary() -> None:
    assert len(STRATEGY_KEYS) == 23 == len(set(STRATEGY_KEYS))
    for rule in RULESET.rules:
        assert set(rule.strategies) <= set(STRATEGY_KEYS), rule.id


def test_rule_ids_are_unique_and_every_rule_reads_intake_items() -> None:
    rule_ids = [rule.id for rule in RULESET.rules]
    assert len(rule_ids) == len(set(rule_ids))
    assert all(rule.reads and all(INTAKE.has_item(i) for i in rule.reads) for rule in RULESET.rules)


def raw_rules() -> dict[str, Any]:
    text = (resources.files("counselor_app.flags") / "rules_v1.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def broken(rule_id: str, **changes: object) -> dict[str, Any]:
    data = copy.deepcopy(raw_rules())
    rule = next(r for r in data["rules"] if r["id"] == rule_id)
    for key, value in changes.items():
        if value is None:
            rule.pop(key)
        else:
            rule[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            broken("R-FIN-01", items=["fin_fair_decisions", "fin_lottery"]),
            "unknown item id 'fin_lottery'",
        ),
        (broken("R-FIN-01", challenge="gambling"), "unknown challenge key 'gambling'"),
        (
            broken("R-FIN-01", strategies=["fair_finances", "budget_app"]),
            "unknown strategy key 'budget_app'",
        ),
        (broken("R-FIN-01", thresholds={"low": 4.5, "high": 3.5}), "must strictly rise"),
        (broken("R-DEP-02", thresholds={"low": 15, "high": 35}), "must strictly fall"),
        (broken("R-FIN-01", thresholds={"low": 7}), "outside 1–5"),
        (broken("R-FIN-01", thresholds={"severe": 4}), "unknown severity level(s) severe"),
        (broken("R-FIN-01", thresholds={"low": "high"}), "thresholds must be numbers"),
        (broken("R-FIN-01", kind="vibes"), "unknown kind 'vibes'"),
        (broken("R-FIN-01", itmes=["fin_open"]), "unknown field(s) itmes"),
        (broken("R-FIN-01", strategies=None), "missing strategies"),
        (broken("R-DEP-02", domain="happiness"), "unknown domain 'happiness'"),
        (broken("R-QT-02", current="qt_rarely_alone"), "is likert, expected hours"),
        (broken("R-FIN-02", domain="finances"), "exactly one of domain or item"),
        (broken("R-FIN-01", id="fin-1"), "id must look like R-ABC-01"),
        (broken("R-FIN-01", id="R-FIN-02"), "R-FIN-02: duplicate rule id"),
    ],
)
def test_a_broken_ruleset_is_rejected_with_a_clear_message(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(RulesetError) as info:
        parse_ruleset(data)
    assert message in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    data = broken("R-FIN-01", challenge="gambling", strategies=["nope"])
    with pytest.raises(RulesetError) as info:
        parse_ruleset(data)
    assert len(info.value.problems) == 2
    assert all(p.startswith("R-FIN-01: ") for p in info.value.problems)


def test_the_shipped_ruleset_parses_cleanly() -> None:
    assert parse_ruleset(raw_rules()) == RULESET
