"""The strategy library: shipped data, its validation, and the rules its text must keep."""

from __future__ import annotations

import ast
import copy
import dataclasses
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from counselor_app.flags import CHALLENGES, STRATEGY_KEYS, Ruleset, load_ruleset
from counselor_app.library import (
    TEXT_FIELDS,
    Library,
    LibraryError,
    Strategy,
    available_versions,
    load_library,
    parse_library,
)

LIBRARY = load_library()
RULESET = load_ruleset()
RAW: dict[str, Any] = tomllib.loads(
    (resources.files("counselor_app.library") / "strategies_v1.toml").read_text(encoding="utf-8")
)
NO_RULES = Ruleset("none", 1, "intake", 1, ())

# The couple sees these fields on a handout; therapist_guidance is for the therapist only.
CLIENT_FIELDS = ("title", "client_explanation", "steps", "homework", "reflection_questions")
# Nothing on a handout may hint at the assessment behind it, name a clinical label, or refer to
# what either partner said in the intake.
FORBIDDEN_IN_CLIENT_TEXT = (
    *CHALLENGES,
    "flag",
    "score",
    "severity",
    "diagnos",
    "safety alert",
    "intake",
    "answer",
    "questionnaire",
    "assessment",
    "codependen",
    "enmesh",
    "interdependen",
    "pursue",
    "withdraw",
    "intervention",
    "partner a",
    "partner b",
)
SHINGLE = 8  # words in a row that may not be shared with any seed article


def texts(strategy: Strategy, fields: tuple[str, ...] = TEXT_FIELDS) -> Iterator[tuple[str, str]]:
    """(field, text) for each field, one entry per list item."""
    for field in fields:
        value = getattr(strategy, field)
        for text in value if isinstance(value, tuple) else (value,):
            yield field, text


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", text.strip()) if s]


# ------------------------------------------------------------------------------------- loading
def test_loads_the_latest_version_and_caches_it() -> None:
    assert available_versions() == (1,)
    assert (LIBRARY.id, LIBRARY.version) == ("strategies", 1)
    assert load_library() is load_library(1) is LIBRARY


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(LibraryError, match="no version 99"):
        load_library(99)


def test_keys_are_exactly_the_strategy_keys() -> None:
    assert len(LIBRARY.keys) == len(STRATEGY_KEYS) == 23
    assert set(LIBRARY.keys) == set(STRATEGY_KEYS)
    assert len(LIBRARY) == 23
    assert [s.key for s in LIBRARY] == list(LIBRARY.keys)


def test_get_returns_the_strategy_and_refuses_unknown_keys() -> None:
    for key in STRATEGY_KEYS:
        assert LIBRARY.get(key).key == key
    assert LIBRARY.get("quality_time").title == "Protect time that is just for the two of you"
    with pytest.raises(KeyError, match="juggling"):
        LIBRARY.get("juggling")


def test_strategies_and_library_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIBRARY.get("gratitude").minutes = 90  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIBRARY.version = 2  # type: ignore[misc]


def test_text_fields_name_real_overridable_fields() -> None:
    names = {field.name for field in dataclasses.fields(Strategy)}
    assert set(TEXT_FIELDS) <= names
    assert not {"key", "challenges", "minutes"} & set(TEXT_FIELDS)


def test_multi_line_strings_become_one_paragraph() -> None:
    for strategy in LIBRARY:
        for field, text in texts(strategy):
            assert text == text.strip() and "\n" not in text and "  " not in text, (
                strategy.key,
                field,
            )
    data = copy.deepcopy(RAW)
    data["strategies"][0]["homework"] = "\n  Do this\n    once a   week.\n"
    data["strategies"][0]["steps"][0] = "Step\n one."
    first = parse_library(data).strategies[0]
    assert first.homework == "Do this once a week."
    assert first.steps[0] == "Step one."


# ------------------------------------------------------------------------- challenges covered
@pytest.mark.parametrize("challenge", list(CHALLENGES))
def test_every_challenge_is_addressed_by_at_least_two_strategies(challenge: str) -> None:
    assert len(LIBRARY.for_challenge(challenge)) >= 2


def test_every_strategy_lists_known_challenges_only() -> None:
    for strategy in LIBRARY:
        assert strategy.challenges, strategy.key
        assert set(strategy.challenges) <= set(CHALLENGES), strategy.key
        assert len(set(strategy.challenges)) == len(strategy.challenges), strategy.key


def test_every_rule_link_is_listed_by_its_strategy() -> None:
    links = [(rule.id, rule.challenge, key) for rule in RULESET.rules for key in rule.strategies]
    assert len(links) > 40  # the shipped ruleset really does link strategies
    missing = [link for link in links if link[1] not in LIBRARY.get(link[2]).challenges]
    assert missing == []


def test_for_challenge_keeps_file_order() -> None:
    assert [s.key for s in LIBRARY.for_challenge("societal_expectations")] == [
        "relationship_goals",
        "self_reflection",
        "empathy_for_differences",
        "flexibility",
    ]
    positions = {key: index for index, key in enumerate(LIBRARY.keys)}
    for challenge in CHALLENGES:
        found = [positions[s.key] for s in LIBRARY.for_challenge(challenge)]
        assert found == sorted(found), challenge
    # File order, not STRATEGY_KEYS order: reversing the file reverses the result.
    data = copy.deepcopy(RAW)
    data["strategies"].reverse()
    reversed_library = parse_library(data)
    assert [s.key for s in reversed_library.for_challenge("societal_expectations")] == [
        "flexibility",
        "empathy_for_differences",
        "self_reflection",
        "relationship_goals",
    ]
    assert LIBRARY.for_challenge("no_such_challenge") == ()


def test_the_model_imports_only_the_standard_library_and_flags() -> None:
    """Plans, handouts and benchmarks share the model: no Flask or database in it. (The package's
    database-backed services live in their own module, which the package root does not import.)"""
    folder = Path(__file__).resolve().parents[1] / "counselor_app" / "library"
    allowed = ("counselor_app.library.model", "counselor_app.flags")
    checked = 0
    for path in (folder / "__init__.py", folder / "model.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                checked += 1
                top = name.split(".")[0]
                ok = name.startswith(allowed) or top in sys.stdlib_module_names
                assert ok or top == "__future__", (path.name, name)
    assert checked > 5


# ---------------------------------------------------------------------------------- validation
Mutation = Callable[[dict[str, Any]], None]


def _strategy(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in data["strategies"] if s["key"] == key)


def _set(key: str, field: str, value: object) -> Mutation:
    return lambda data: _strategy(data, key).__setitem__(field, value)


def _drop_challenge_everywhere_but(challenge: str, keep: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for raw in data["strategies"]:
            if raw["key"] != keep and challenge in raw["challenges"]:
                raw["challenges"].remove(challenge)

    return mutate


BROKEN: list[tuple[str, Mutation, str]] = [
    ("wrong id", lambda d: d.__setitem__("id", "rules"), "id must be 'strategies'"),
    ("version 0", lambda d: d.__setitem__("version", 0), "version must be a whole number from 1"),
    ("no strategies", lambda d: d.__setitem__("strategies", []), "strategies must be a non-empty"),
    (
        "unknown key",
        _set("gratitude", "key", "juggling"),
        "juggling: unknown strategy key 'juggling'",
    ),
    (
        "missing key",
        lambda d: d["strategies"].pop(),
        "missing strategy key(s) professional_support",
    ),
    (
        "duplicate key",
        _set("individual_goals", "key", "pursue_interests"),
        "pursue_interests: duplicate strategy key",
    ),
    (
        "unknown challenge",
        lambda d: _strategy(d, "flexibility")["challenges"].append("loneliness"),
        "flexibility: unknown challenge key 'loneliness'",
    ),
    ("no challenges", _set("gratitude", "challenges", []), "challenges must be a non-empty list"),
    (
        "challenge twice",
        _set("gratitude", "challenges", ["emotional_distance", "emotional_distance"]),
        "gratitude: challenges lists a key twice",
    ),
    ("minutes too low", _set("gratitude", "minutes", 4), "minutes must be a whole number from 5"),
    ("minutes too high", _set("gratitude", "minutes", 41), "minutes must be a whole number"),
    ("minutes as text", _set("gratitude", "minutes", "15"), "minutes must be a whole number"),
    ("minutes as bool", _set("gratitude", "minutes", True), "minutes must be a whole number"),
    (
        "two steps",
        _set("gratitude", "steps", ["One.", "Two."]),
        "gratitude: steps must have 3 to 6 entries, not 2",
    ),
    (
        "seven steps",
        _set("gratitude", "steps", [f"Step {n}." for n in range(7)]),
        "steps must have 3 to 6 entries, not 7",
    ),
    (
        "blank step",
        _set("gratitude", "steps", ["One.", "  ", "Three."]),
        "steps has an empty or non-text entry",
    ),
    (
        "one question",
        _set("gratitude", "reflection_questions", ["Why?"]),
        "reflection_questions must have 2 to 3 entries, not 1",
    ),
    (
        "four questions",
        _set("gratitude", "reflection_questions", ["A?", "B?", "C?", "D?"]),
        "reflection_questions must have 2 to 3 entries, not 4",
    ),
    ("empty title", _set("gratitude", "title", "   "), "gratitude: title must be non-empty text"),
    ("empty guidance", _set("gratitude", "therapist_guidance", ""), "therapist_guidance must be"),
    (
        "empty explanation",
        _set("gratitude", "client_explanation", "\n"),
        "client_explanation must be non-empty text",
    ),
    ("homework not text", _set("gratitude", "homework", 3), "homework must be non-empty text"),
    (
        "missing field",
        lambda d: _strategy(d, "gratitude").pop("homework"),
        "gratitude: missing homework",
    ),
    (
        "unknown field",
        _set("gratitude", "audience", "couple"),
        "gratitude: unknown field(s) audience",
    ),
    (
        "rule link dropped",
        lambda d: _strategy(d, "reframe_space")["challenges"].remove("identity_loss"),
        "reframe_space: rule R-IDN-01 suggests it for 'identity_loss'",
    ),
]


def test_the_pristine_copy_parses() -> None:
    """The control for every broken copy below: only the mutation makes it fail."""
    assert parse_library(copy.deepcopy(RAW)) == LIBRARY


@pytest.mark.parametrize(
    ("mutate", "message"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_a_broken_copy_is_refused(mutate: Mutation, message: str) -> None:
    data = copy.deepcopy(RAW)
    mutate(data)
    with pytest.raises(LibraryError) as caught:
        parse_library(data)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems
    assert message in str(caught.value)


def test_coverage_below_two_is_refused() -> None:
    data = copy.deepcopy(RAW)
    _drop_challenge_everywhere_but("societal_expectations", "flexibility")(data)
    with pytest.raises(LibraryError) as caught:
        parse_library(data, ruleset=NO_RULES)  # isolate the coverage rule from the rule links
    assert caught.value.problems == [
        "challenge 'societal_expectations' is addressed by 1 strategy; at least 2 needed"
    ]


def test_every_problem_is_reported_at_once() -> None:
    data = copy.deepcopy(RAW)
    _set("gratitude", "minutes", 0)(data)
    _set("compromise", "steps", ["Only one."])(data)
    with pytest.raises(LibraryError) as caught:
        parse_library(data)
    assert len(caught.value.problems) == 2
    assert caught.value.problems[0].startswith("gratitude: minutes")
    assert caught.value.problems[1].startswith("compromise: steps")


def test_a_library_the_ruleset_does_not_link_still_needs_its_own_coverage() -> None:
    library = parse_library(copy.deepcopy(RAW), ruleset=NO_RULES)
    assert isinstance(library, Library) and library.keys == LIBRARY.keys


# ------------------------------------------------------------------------------------- content
@pytest.mark.parametrize("key", STRATEGY_KEYS)
def test_shape_of_each_strategy(key: str) -> None:
    s = LIBRARY.get(key)
    assert 5 <= s.minutes <= 40
    assert len(s.title) <= 60 and not s.title.endswith(".")
    assert 3 <= len(sentences(s.therapist_guidance)) <= 6, sentences(s.therapist_guidance)
    assert 2 <= len(sentences(s.client_explanation)) <= 4, sentences(s.client_explanation)
    assert 1 <= len(sentences(s.homework)) <= 2, sentences(s.homework)
    assert 3 <= len(s.steps) <= 6 and 2 <= len(s.reflection_questions) <= 3
    assert all(q.endswith("?") for q in s.reflection_questions)
    assert all(step[0].isupper() and step.endswith((".", ".'")) for step in s.steps)


@pytest.mark.parametrize("key", STRATEGY_KEYS)
def test_client_text_names_no_flag_score_label_or_answer(key: str) -> None:
    strategy = LIBRARY.get(key)
    for field, text in texts(strategy, CLIENT_FIELDS):
        lowered = text.lower()
        found = [word for word in FORBIDDEN_IN_CLIENT_TEXT if word in lowered]
        assert found == [], (key, field, text)


@pytest.mark.parametrize("key", STRATEGY_KEYS)
def test_client_explanation_speaks_to_the_couple_plainly(key: str) -> None:
    text = LIBRARY.get(key).client_explanation
    assert re.search(r"\byou\b", text, re.IGNORECASE)
    for sentence in sentences(text):
        assert len(sentence.split()) <= 25, sentence
    assert _grade_level(text) <= 8.0, (key, round(_grade_level(text), 1))


def test_guidance_carries_the_safety_and_referral_cautions() -> None:
    # Exercises that bring the partners into closer contact or disclosure must say when not to.
    for key in ("shared_activities", "quality_time", "share_feelings", "rituals_of_connection"):
        assert "safety" in LIBRARY.get(key).therapist_guidance.lower(), key
    referral = LIBRARY.get("professional_support").therapist_guidance.lower()
    assert "referral" in referral and "safety" in referral
    # ...and none of that reaches the couple.
    for strategy in LIBRARY:
        for _, text in texts(strategy, CLIENT_FIELDS):
            assert "coercion" not in text.lower() and "violence" not in text.lower()


def _syllables(word: str) -> int:
    word = word.lower()
    count = len(re.findall(r"[aeiouy]+", word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(1, count)


def _grade_level(text: str) -> float:
    """Flesch–Kincaid grade with a rough syllable count: good enough to catch dense prose."""
    words = re.findall(r"[A-Za-z']+", text)
    per_sentence = len(words) / len(sentences(text))
    per_word = sum(map(_syllables, words)) / len(words)
    return 0.39 * per_sentence + 11.8 * per_word - 15.59


def test_grade_level_tells_plain_from_dense_text() -> None:
    assert _grade_level("You can do it. We will help you.") < 3
    dense = (
        "Interdependence necessitates acknowledging heterogeneous attachment-related "
        "predispositions, notwithstanding considerable intergenerational variability."
    )
    assert _grade_level(dense) > 12


# --------------------------------------------------------------------------------- originality
def _seed_dir() -> Path | None:
    # shared/ sits beside the checkout (as on CI and in the workplace), or is named explicitly.
    beside_checkout = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    candidates = [os.environ.get("COUNSELOR_SEEDS_DIR"), str(beside_checkout)]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir() and any(Path(candidate).glob("*.txt")):
            return Path(candidate)
    return None


def _words(text: str) -> list[str]:
    """Lower-case words with punctuation stripped; curly and straight apostrophes dropped."""
    return re.findall(r"[a-z0-9]+", text.lower().replace("’", "").replace("'", ""))


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


@pytest.fixture(scope="module")
def seed_shingles() -> set[tuple[str, ...]]:
    folder = _seed_dir()
    if folder is None:
        pytest.skip("seed articles not found: set COUNSELOR_SEEDS_DIR")
    found: set[tuple[str, ...]] = set()
    for path in sorted(folder.glob("*.txt")):
        found |= _shingles(path.read_text(encoding="utf-8"))
    assert len(found) > 1000  # five articles of several hundred words each
    return found


def test_the_originality_check_catches_a_copied_phrase(seed_shingles: set) -> None:
    copied = " ".join(sorted(seed_shingles)[len(seed_shingles) // 2]).capitalize() + "."
    assert _shingles(f"Try this at home. {copied} Then talk.") & seed_shingles
    assert not _shingles("Try this at home, and then talk about how it went for you.") & (
        seed_shingles
    )


@pytest.mark.parametrize("key", STRATEGY_KEYS)
def test_no_eight_word_run_is_taken_from_a_seed(key: str, seed_shingles: set) -> None:
    strategy = LIBRARY.get(key)
    for field, text in texts(strategy):
        shared = _shingles(text) & seed_shingles
        assert not shared, (key, field, [" ".join(run) for run in shared])
