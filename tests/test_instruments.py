"""Instruments as data: loading, the CSI-4's exact wording, answer validation and scoring."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from counselor_app.instruments import (
    BALANCE_ID,
    CSI4_ID,
    INTAKE_ID,
    SAFETY_ID,
    AnswerError,
    InstrumentError,
    available,
    compare_partners,
    load,
    missing_required,
    score_balance,
    score_csi4,
    score_intake,
    screen_safety,
    validate_answer,
    validate_answers,
)
from counselor_app.instruments.registry import parse_instrument
from counselor_app.instruments.scoring import concern_value, healthy_value

INTAKE = load(INTAKE_ID)
CSI4 = load(CSI4_ID)
SAFETY = load(SAFETY_ID)
BALANCE = load(BALANCE_ID)
CHALLENGE_DOMAINS = (
    "reliance",
    "closeness",
    "identity",
    "intimacy",
    "needs_balance",
    "boundaries",
    "quality_time",
    "decisions",
    "finances",
    "family_social",
    "societal",
)


def neutral() -> dict[str, int | str]:
    return {item.id: 3 for item in INTAKE.items if item.kind == "likert"}


# ------------------------------------------------------------------------------------ loading
@pytest.mark.parametrize(
    ("instrument_id", "versions", "count"),
    [(INTAKE_ID, (1, 2), 80), (CSI4_ID, (1,), 4), (SAFETY_ID, (1,), 9), (BALANCE_ID, (1,), 5)],
)
def test_all_four_instruments_load_at_their_latest_version(
    instrument_id: str, versions: tuple[int, ...], count: int
) -> None:
    instrument = load(instrument_id)
    assert available()[instrument_id] == versions
    assert instrument.version == versions[-1]
    assert len(instrument.items) == count
    assert instrument.source and instrument.licence


def test_load_is_cached_and_explicit_version_matches_latest() -> None:
    assert load(INTAKE_ID) is load(INTAKE_ID, 2)
    assert load(INTAKE_ID, 1) is not load(INTAKE_ID, 2)


def test_intake_v2_keeps_every_v1_item_and_adds_six_worries_beside_their_neighbours() -> None:
    v1 = load(INTAKE_ID, 1)
    assert (len(v1.items), v1.estimated_minutes) == (74, 15)  # still loadable, unchanged
    old = {item.id: item for item in v1.items}
    assert all(item == old[item.id] for item in INTAKE.items if item.id in old)
    added = {item.id: item for item in INTAKE.items if item.id not in old}
    where = {item.id: s.key for s in INTAKE.sections for item in s.items}
    assert {item_id: (where[item_id], item.domain) for item_id, item in added.items()} == {
        "int_want_closer": ("closeness_space", "intimacy"),
        "priv_reads_messages": ("daily_life", "boundaries"),
        "priv_tracks_location": ("daily_life", "boundaries"),
        "fin_hidden_spending": ("pressures", "finances"),
        "fin_money_unspoken": ("pressures", "finances"),
        "soc_independence_unvoiced": ("pressures", "societal"),
    }
    # Same agreement scale as their neighbours; agreeing is the concern (reverse-scored).
    scale = INTAKE.item("fin_argue").options
    assert all(i.kind == "likert" and i.reverse and i.options == scale for i in added.values())
    assert v1.domains == INTAKE.domains


@pytest.mark.parametrize(("instrument_id", "version"), [("nope", None), (INTAKE_ID, 99)])
def test_unknown_instrument_or_version_is_refused(instrument_id: str, version: int | None) -> None:
    with pytest.raises(InstrumentError):
        load(instrument_id, version)


def test_a_file_with_a_duplicate_item_id_is_refused() -> None:
    item = {"id": "x_1", "kind": "text", "text": "Hello?"}
    data = {
        "id": "broken",
        "version": 1,
        "title": "t",
        "description": "d",
        "source": "s",
        "licence": "l",
        "scoring": {"method": "screen"},
        "sections": [{"key": "s", "title": "S", "items": [item, item]}],
    }
    with pytest.raises(InstrumentError, match="x_1"):
        parse_instrument(data)


# ------------------------------------------------------------------------------------- CSI-4
CSI4_WORDING = {
    "csi_1": (
        "Please indicate the degree of happiness, all things considered, of your relationship.",
        [
            "Extremely unhappy",
            "Fairly unhappy",
            "A little unhappy",
            "Happy",
            "Very happy",
            "Extremely happy",
            "Perfect",
        ],
    ),
    "csi_2": (
        "I have a warm and comfortable relationship with my partner.",
        [
            "Not at all true",
            "A little true",
            "Somewhat true",
            "Mostly true",
            "Almost completely true",
            "Completely true",
        ],
    ),
    "csi_3": (
        "How rewarding is your relationship with your partner?",
        ["Not at all", "A little", "Somewhat", "Mostly", "Almost completely", "Completely"],
    ),
    "csi_4": (
        "In general, how satisfied are you with your relationship?",
        ["Not at all", "A little", "Somewhat", "Mostly", "Almost completely", "Completely"],
    ),
}


@pytest.mark.parametrize("item_id", list(CSI4_WORDING))
def test_csi4_wording_and_anchors_are_verbatim(item_id: str) -> None:
    text, labels = CSI4_WORDING[item_id]
    item = CSI4.item(item_id)
    assert item.text == text
    assert [opt.label for opt in item.options] == labels
    assert [opt.value for opt in item.options] == list(range(len(labels)))


def test_csi4_carries_source_and_licence() -> None:
    assert [item.id for item in CSI4.items] == ["csi_1", "csi_2", "csi_3", "csi_4"]
    assert "Funk" in CSI4.source and "Rogge" in CSI4.source and "(2007)" in CSI4.source
    assert "Journal of Family Psychology, 21(4), 572–583" in CSI4.source
    assert "free for clinical and research use without further permission" in CSI4.licence
    assert CSI4.scoring.cutoff == 13.5


def csi(one: int, two: int, three: int, four: int) -> dict[str, int]:
    return {"csi_1": one, "csi_2": two, "csi_3": three, "csi_4": four}


@pytest.mark.parametrize(
    ("answers", "total", "distressed"),
    [
        (csi(0, 0, 0, 0), 0, True),
        (csi(6, 5, 5, 5), 21, False),
        (csi(4, 3, 3, 3), 13, True),  # just below 13.5: distressed range
        (csi(4, 4, 3, 3), 14, False),  # just above
    ],
)
def test_csi4_total_and_cutoff(answers: dict[str, int], total: int, distressed: bool) -> None:
    score = score_csi4(answers)
    assert (score.total, score.distressed, score.cutoff) == (total, distressed, 13.5)


def test_csi4_accepts_form_strings_and_needs_every_item() -> None:
    assert score_csi4({"csi_1": "3", "csi_2": "3", "csi_3": "3", "csi_4": "3"}).total == 12
    incomplete = score_csi4({"csi_1": 3, "csi_2": 3, "csi_3": 3})
    assert (incomplete.total, incomplete.distressed) == (None, None)


def test_csi4_rejects_an_answer_beyond_its_anchors() -> None:
    with pytest.raises(AnswerError) as info:
        score_csi4(csi(7, 5, 5, 5))
    assert info.value.item_id == "csi_1"
    with pytest.raises(AnswerError):
        score_csi4(csi(6, 6, 5, 5))  # item 2 stops at 5


# ---------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("item_id", "raw", "expected"),
    [
        ("ind_hobbies", 4, 4),
        ("ind_hobbies", "5", 5),
        ("ind_hobbies", "", None),
        ("ind_hobbies", None, None),
        ("bg_stage", "married", "married"),
        ("bg_hours_together_now", "12", 12),
        ("bg_hours_together_now", 0, 0),
        ("bg_hours_together_now", 168, 168),
        ("bg_goals", "  Argue less  ", "Argue less"),
    ],
)
def test_validate_answer_cleans_allowed_values(item_id: str, raw: object, expected: object) -> None:
    assert validate_answer(INTAKE.item(item_id), raw) == expected


@pytest.mark.parametrize(
    ("item_id", "raw"),
    [
        ("ind_hobbies", 6),
        ("ind_hobbies", 0),
        ("ind_hobbies", "agree"),
        ("ind_hobbies", 4.0),
        ("ind_hobbies", True),
        ("bg_stage", "widowed"),
        ("bg_hours_together_now", -1),
        ("bg_hours_together_now", 169),
        ("bg_hours_together_now", "ten"),
        ("bg_hours_together_now", "2.5"),
        ("bg_goals", "x" * 4001),
    ],
)
def test_validate_answer_rejects_what_the_instrument_does_not_allow(
    item_id: str, raw: object
) -> None:
    with pytest.raises(AnswerError) as info:
        validate_answer(INTAKE.item(item_id), raw)
    assert info.value.item_id == item_id


def test_validate_answers_rejects_unknown_item_ids_and_drops_blanks() -> None:
    with pytest.raises(AnswerError) as info:
        validate_answers(INTAKE, {"ind_hobbies": 3, "ind_knitting": 4})
    assert info.value.item_id == "ind_knitting"
    assert validate_answers(INTAKE, {"ind_hobbies": "4", "bg_goals": ""}) == {"ind_hobbies": 4}


def test_missing_required_lists_unanswered_required_items_in_form_order() -> None:
    answers = {**neutral(), "bg_stage": "dating", "bg_length": "lt1", "bg_live_together": ""}
    missing = missing_required(INTAKE, answers)
    assert missing == [
        "bg_live_together",
        "bg_children",
        "bg_prior_counselling",
        "bg_hours_together_now",
        "bg_hours_together_want",
        "bg_hours_alone_now",
        "bg_hours_alone_want",
    ]
    assert "bg_goals" not in missing  # free text is never required


# ------------------------------------------------------------------------------ intake content
def test_intake_size_and_shape() -> None:
    kinds = [item.kind for item in INTAKE.items]
    assert 60 <= len(kinds) <= 80
    assert kinds.count("likert") == 68
    assert 2 <= kinds.count("text") <= 4
    assert kinds.count("hours") == 4
    assert INTAKE.estimated_minutes == 16


def test_item_ids_are_unique_and_prefixed_by_area() -> None:
    ids = [item.id for item in INTAKE.items]
    assert len(ids) == len(set(ids))
    prefixes = {"bg", "ind", "tog", "com", "dep", "dist", "idn", "int", "need", "bnd", "qt", "dec"}
    prefixes |= {"fin", "fam", "soc", "pres", "end", "priv"}
    assert {item_id.split("_")[0] for item_id in ids} == prefixes


def test_every_domain_has_enough_items_to_score() -> None:
    assert INTAKE.domains == ("independence", "togetherness", "communication", *CHALLENGE_DOMAINS)
    for domain in INTAKE.domains:
        items = INTAKE.domain_items(domain)
        assert len(items) >= 3, domain
        assert all(item.kind == "likert" and item.required for item in items)


def test_likert_items_share_one_five_point_agreement_scale() -> None:
    labels = [
        "Strongly disagree",
        "Disagree",
        "Neither agree nor disagree",
        "Agree",
        "Strongly agree",
    ]
    for item in INTAKE.items:
        if item.kind == "likert":
            assert [(o.value, o.label) for o in item.options] == list(enumerate(labels, 1))


def test_free_text_is_optional_and_hours_are_bounded() -> None:
    for item in INTAKE.items:
        if item.kind == "text":
            assert not item.required
        if item.kind == "hours":
            assert (item.min_value, item.max_value) == (0, 168)


def test_relationship_stage_and_length_options() -> None:
    stages = [opt.value for opt in INTAKE.item("bg_stage").options]
    assert stages == ["dating", "engaged", "married", "cohabiting", "other"]
    assert len(INTAKE.item("bg_length").options) == 5


# ---------------------------------------------------------------------------------- scoring
def test_reverse_items_flip_and_concern_is_the_mirror() -> None:
    worry, strength = INTAKE.item("ind_guilt_alone"), INTAKE.item("ind_hobbies")
    assert worry.reverse and not strength.reverse
    assert [healthy_value(worry, v) for v in range(1, 6)] == [5, 4, 3, 2, 1]
    assert [healthy_value(strength, v) for v in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [concern_value(worry, v) for v in range(1, 6)] == [1, 2, 3, 4, 5]


def test_neutral_answers_score_fifty_everywhere() -> None:
    assert set(score_intake(INTAKE, neutral()).values()) == {50.0}


def test_every_domain_is_oriented_high_is_healthy() -> None:
    healthiest = {i.id: (1 if i.reverse else 5) for i in INTAKE.items if i.kind == "likert"}
    worst = {i.id: (5 if i.reverse else 1) for i in INTAKE.items if i.kind == "likert"}
    assert set(score_intake(INTAKE, healthiest).values()) == {100.0}
    assert set(score_intake(INTAKE, worst).values()) == {0.0}


def test_independence_score_counts_the_reverse_item_reversed() -> None:
    answers = {**neutral(), **{i.id: 5 for i in INTAKE.domain_items("independence")}}
    # six items at 5, "I feel guilty…" agreed at 5 counts as 1: mean 31/7 → 85.7
    assert score_intake(INTAKE, answers)["independence"] == 85.7
    answers["ind_guilt_alone"] = 1
    assert score_intake(INTAKE, answers)["independence"] == 100.0


def test_domain_score_is_none_when_under_half_the_items_are_answered() -> None:
    ids = [item.id for item in INTAKE.domain_items("independence")]  # 7 items: 4 needed
    three = {item_id: 5 for item_id in ids[:3]}
    assert score_intake(INTAKE, three)["independence"] is None
    four = {item_id: 5 for item_id in ids[:4]}
    assert score_intake(INTAKE, four)["independence"] == 100.0
    assert score_intake(INTAKE, {})["finances"] is None


def test_balance_checkin_scores_total_and_percent() -> None:
    ids = [item.id for item in BALANCE.items]
    assert ids == [
        "bal_time_self",
        "bal_time_together",
        "bal_heard",
        "bal_boundaries",
        "bal_overall",
    ]
    assert [o.label for o in BALANCE.items[0].options][::4] == ["Not at all", "Completely"]
    full = score_balance(BALANCE, dict.fromkeys(ids, 4))
    assert (full.total, full.score, full.max_total) == (20, 100.0, 20)
    mixed = score_balance(BALANCE, dict(zip(ids, [0, 1, 2, 3, 4], strict=True)))
    assert (mixed.total, mixed.score) == (10, 50.0)
    assert score_balance(BALANCE, dict.fromkeys(ids[:4], 2)).score is None
    with pytest.raises(AnswerError):
        score_balance(BALANCE, dict.fromkeys(ids, 5))


SAFE = {item.id: "no" for item in SAFETY.items if item.kind == "choice"} | {
    "saf_speak_openly": "yes"
}


def test_safety_screen_negative_when_every_answer_is_safe() -> None:
    screen = screen_safety(SAFETY, SAFE)
    assert (screen.positive, screen.positive_items, screen.complete) == (False, (), True)


@pytest.mark.parametrize(
    ("changes", "positive_items"),
    [
        ({"saf_fear": "yes"}, ("saf_fear",)),
        (
            {"saf_physical": "yes", "saf_money_control": "yes"},
            ("saf_physical", "saf_money_control"),
        ),
        ({"saf_speak_openly": "no"}, ("saf_speak_openly",)),
        ({"saf_speak_openly": "unsure"}, ("saf_speak_openly",)),
    ],
)
def test_safety_screen_positive_on_any_positive_answer(
    changes: dict[str, str], positive_items: tuple[str, ...]
) -> None:
    screen = screen_safety(SAFETY, {**SAFE, **changes})
    assert screen.positive and screen.positive_items == positive_items


def test_incomplete_safety_screen_is_reported_not_assumed_safe() -> None:
    screen = screen_safety(SAFETY, {"saf_fear": "no"})
    assert (screen.positive, screen.complete) == (False, False)


# ------------------------------------------------------------------------- compare_partners
@pytest.mark.parametrize(
    ("a", "b", "gap", "agreement", "strength", "growth"),
    [
        (70.0, 70.0, 0.0, "agree", True, False),
        (69.9, 80.0, 10.1, "agree", False, False),
        (50.0, 64.9, 14.9, "agree", False, False),
        (50.0, 65.0, 15.0, "differ", False, False),
        (50.0, 79.9, 29.9, "differ", False, False),
        (50.0, 80.0, 30.0, "far apart", False, False),
        (40.0, 90.0, 50.0, "far apart", False, True),
        (40.1, 45.0, 4.9, "agree", False, False),
        (None, 30.0, None, "incomplete", False, True),
        (None, None, None, "incomplete", False, False),
    ],
)
def test_compare_partners_thresholds(
    a: float | None,
    b: float | None,
    gap: float | None,
    agreement: str,
    strength: bool,
    growth: bool,
) -> None:
    (row,) = compare_partners({"finances": a}, {"finances": b})
    assert (row.domain, row.a, row.b, row.gap) == ("finances", a, b, gap)
    assert (row.agreement, row.strength, row.growth) == (agreement, strength, growth)


def test_compare_partners_keeps_domain_order_and_covers_both_sides() -> None:
    rows = compare_partners({"b": 50.0, "a": 50.0}, {"a": 50.0, "c": 10.0})
    assert [row.domain for row in rows] == ["b", "a", "c"]


# -------------------------------------------------------------------------------------- purity
@pytest.mark.parametrize(
    ("package", "may_import"),
    [
        ("instruments", ("counselor_app.instruments",)),
        ("flags", ("counselor_app.flags", "counselor_app.instruments")),
    ],
)
def test_domain_packages_import_only_the_standard_library(package, may_import) -> None:
    """Forms, services, reports and benchmarks all share these: no Flask or database in them."""
    folder = Path(__file__).resolve().parents[1] / "counselor_app" / package
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                own = name.startswith(may_import)
                assert own or top in sys.stdlib_module_names or top == "__future__", (path, name)


def test_every_intake_domain_has_a_title_for_therapists():
    intake = load(INTAKE_ID)
    assert set(intake.domain_titles) == set(intake.domains)
    assert intake.domain_title("finances") == "Money matters"
