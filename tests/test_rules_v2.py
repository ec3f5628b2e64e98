"""Rules v2 on intake v2 (issue 17): one strongly endorsed key item, borderline results in words,
the quality-time rule that reads both partners, attribution to every partner whose answers meet
a rule, the six new statements, and v1 answers still flagged exactly as before.

Pure Python except the last two tests, which drive the pages standalone and mounted.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import select

from conftest import add_couple, login
from counselor_app.assessment.services import ruleset_for
from counselor_app.extensions import db
from counselor_app.flags import (
    RulesetError,
    evaluate,
    load_ruleset,
    parse_ruleset,
    ruleset_for_intake,
)
from counselor_app.instruments import load, score_intake
from counselor_app.models import Flag, Response
from host_support import (  # noqa: F401  (fixtures)
    COUPLE_FORM,
    PREFIX,
    clinician,
    host,
    host_client,
    host_template,
)
from intake_support import seed_intake, step_url
from vignettes import NEUTRAL, VIGNETTES, every_likert, on_intake_v2

INTAKE_V1, INTAKE_V2 = load("intake", 1), load("intake", 2)
RULES_V1, RULES_V2 = load_ruleset(1), load_ruleset(2)
NEW_STATEMENTS = {  # item → (challenge, rule, domain)
    "fin_hidden_spending": ("financial_tension", "R-FIN-03", "finances"),
    "fin_money_unspoken": ("financial_tension", "R-FIN-03", "finances"),
    "int_want_closer": ("intimacy_difficulty", "R-INT-02", "intimacy"),
    "soc_independence_unvoiced": ("societal_expectations", "R-SOC-01", "societal"),
    "priv_reads_messages": ("boundary_strain", "R-BND-02", "boundaries"),
    "priv_tracks_location": ("boundary_strain", "R-BND-02", "boundaries"),
}


def ordinary(**story: int) -> dict[str, int | str]:
    """How most partners answer (the issue's baseline): disagree with every worry, agree with
    every strength, no lean on the two wishes, an ordinary week; then the story's answers."""
    likert = {
        item.id: 3 if item.domain is None else (2 if item.reverse else 4)
        for item in INTAKE_V2.items
        if item.kind == "likert"
    }
    hours = {
        "bg_hours_together_now": 15,
        "bg_hours_together_want": 15,
        "bg_hours_alone_now": 8,
        "bg_hours_alone_want": 8,
    }
    return {**{k: v for k, v in NEUTRAL.items() if k.startswith("bg_")}, **hours, **likert, **story}


def on_v1(answers: dict[str, int | str]) -> dict[str, int | str]:
    """The same answers as a partner gave them on intake v1 (no v2 statements)."""
    return {key: value for key, value in answers.items() if INTAKE_V1.has_item(key)}


def reading(flag, rule_id: str, who: str):
    hit = next(hit for hit in flag.hits if hit.rule_id == rule_id)
    return hit, next(r for r in hit.readings if r.who == who)


# ----------------------------------------------------------------------------- the basics
def test_new_answers_go_to_rules_v2_and_v1_answers_to_rules_v1() -> None:
    quiet = evaluate(ordinary(), ordinary())
    assert (quiet.ruleset_version, quiet.intake_version) == (2, 2)
    assert quiet.flags == () and quiet.near_misses == ()
    assert ruleset_for_intake("intake", 1) is RULES_V1
    assert ruleset_for_intake("intake", 2) is RULES_V2
    old = evaluate(on_v1(ordinary()), None, intake=INTAKE_V1)
    assert (old.ruleset_version, old.intake_version) == (1, 1)


def test_one_strongly_endorsed_key_item_raises_its_flag_at_the_lowest_severity() -> None:
    # The two examples: each averages 2.75 against the mean's threshold.
    for item_id, challenge, rule_id in (
        ("fam_family_pressure", "family_social_expectations", "R-FAM-01"),
        ("bnd_overlooked", "boundary_strain", "R-BND-01"),
    ):
        story = ordinary(**{item_id: 5})
        assert evaluate(on_v1(story), on_v1(ordinary()), ruleset=RULES_V1).flags == ()
        flag = evaluate(story, ordinary()).flag(challenge)
        assert flag is not None, item_id
        assert (flag.severity, flag.partners, flag.borderline) == ("low", ("A",), False)
        hit, mine = reading(flag, rule_id, "A")
        assert (mine.value, mine.level, mine.key_items) == (2.75, None, (item_id,))
        assert "A: mean concern 2.75 against a threshold of 3.5: 0.75 below" in hit.detail
        wording = INTAKE_V2.item(item_id).text
        assert f"raised at low severity by one strongly endorsed item: “{wording}”" in hit.detail
    # "Agree" on its own is no lead; and strong answers from someone who gave every statement
    # the same answer say nothing about any one statement.
    assert evaluate(ordinary(fam_family_pressure=4), ordinary()).flags == ()
    ticked = evaluate(on_intake_v2(every_likert(5)), ordinary())
    readings = [r for flag in ticked.flags for hit in flag.hits for r in hit.readings]
    assert readings and not any(r.key_items or r.broadly_endorsed for r in readings)


def test_a_partner_endorsing_half_of_a_rules_statements_raises_it() -> None:
    # Agreeing with two money worries while agreeing the money is otherwise fine: mean 3.0.
    flag = evaluate(ordinary(fin_argue=4, fin_open=2), ordinary()).flag("financial_tension")
    assert flag is not None and (flag.severity, flag.partners) == ("low", ("A",))
    _, mine = reading(flag, "R-FIN-01", "A")
    assert (mine.value, mine.endorsed, mine.answered, mine.endorsed_needed) == (3.0, 2, 4, 2)
    assert "raised at low severity: 2 of the 4 statements endorsed" in flag.hits[0].detail


# ------------------------------------------------------------------------------- borderline
def test_borderline_results_say_value_threshold_and_margin() -> None:
    neutral = on_intake_v2(NEUTRAL)
    # One strong, non-key answer among neutral ones: 3.5 against 3.5 is a flag, borderline.
    flagged = evaluate({**neutral, "com_assume": 5}, neutral).flag("communication_gaps")
    assert flagged is not None and flagged.borderline and flagged.severity == "low"
    hit, mine = reading(flagged, "R-COM-01", "A")
    assert hit.borderline and (mine.value, mine.threshold, mine.margin) == (3.5, 3.5, 0.25)
    assert (
        "A: mean concern 3.5 against a threshold of 3.5: exactly at it, borderline "
        "(within the margin of 0.25)"
    ) in hit.detail
    # One step milder: no flag, but listed as worth asking about, in words.
    milder = evaluate({**neutral, "com_assume": 4}, neutral)
    assert milder.flag("communication_gaps") is None
    (miss,) = [m for m in milder.near_misses if m.challenge_key == "communication_gaps"]
    assert (miss.rule_id, miss.partners) == ("R-COM-01", ("A",))
    assert (
        "A: mean concern 3.25 against a threshold of 3.5: 0.25 below, within the margin of "
        "0.25: worth asking about"
    ) in miss.detail
    assert "B: mean concern 3 against a threshold of 3.5: 0.5 below, not raised" in miss.detail
    # The margin is data, and a practice may narrow it, or switch the band off (0).
    narrow = RULES_V2.with_margins({"mean": 0.05})
    assert not evaluate({**neutral, "com_assume": 4}, neutral, ruleset=narrow).near_misses
    off = RULES_V2.with_margins({"mean": 0})
    assert not evaluate({**neutral, "com_assume": 5}, neutral, ruleset=off).flags[0].borderline
    # Whatever the margin, a flag that one answer step milder would undo is borderline: 3.67
    # of three answers is 0.17 past 3.5, one step from 3.33.
    three = evaluate({**neutral, "dep_uneasy_apart": 5}, neutral, ruleset=narrow)
    flag = three.flag("codependency_fear")
    assert flag is not None and flag.borderline
    hit, mine = reading(flag, "R-DEP-01", "A")
    assert (mine.value, mine.step) == (3.666667, 0.333333)
    assert (
        "A: mean concern 3.67 against a threshold of 3.5: 0.17 above, borderline (one answer "
        "step milder on one of the 3 statements answered would undo it)"
    ) in hit.detail
    # A one-statement rule's line sits half a step below "Agree": "Strongly agree" is not
    # borderline (one step milder still meets it); "Agree", half a step past, is.
    for answer, borderline in ((5, False), (4, True)):
        sides = evaluate({**neutral, "fam_partner_sides": answer}, neutral)
        _, mine = reading(sides.flag("family_social_expectations"), "R-FAM-02", "A")
        assert (mine.value, mine.threshold, mine.borderline) == (answer, 3.5, borderline)
    with pytest.raises(RulesetError, match="unknown unit 'furlongs'"):
        RULES_V2.with_margins({"furlongs": 1})
    # Rules v1 keeps no margins: the same answers are in or out, as they always were.
    assert (
        RULES_V1.margins == ()
        and not evaluate(
            on_v1({**neutral, "com_assume": 4}), on_v1(neutral), ruleset=RULES_V1
        ).near_misses
    )


# ----------------------------------------------------------------- one-sided and attribution
def test_quality_time_is_not_flagged_when_the_other_partner_wants_less_time_together() -> None:
    wants_more = ordinary(bg_hours_together_now=15, bg_hours_together_want=30)
    wants_less = ordinary(bg_hours_together_now=15, bg_hours_together_want=8)
    also_more = ordinary(bg_hours_together_now=15, bg_hours_together_want=20)
    apart = evaluate(wants_more, wants_less)
    assert apart.flag("quality_time_deficit") is None
    assert "R-NEED-02" in apart.flag("mismatched_needs").rule_ids  # the pattern it really is
    old = evaluate(on_v1(wants_more), on_v1(wants_less), ruleset=RULES_V1)
    assert old.flag("quality_time_deficit") is not None  # what v1 got wrong
    shared = evaluate(wants_more, also_more).flag("quality_time_deficit")
    assert shared is not None and shared.partners == ("A",)
    # The mirror image: both want more, by 30 and 20 hours: a gap of 10 but no mismatch.
    assert evaluate(wants_more, also_more).flag("mismatched_needs") is None
    assert (
        "R-NEED-02"
        in evaluate(on_v1(wants_more), on_v1(also_more), ruleset=RULES_V1)
        .flag("mismatched_needs")
        .rule_ids
    )
    assert "A: would like 15 hours a week more together than now" in shared.hits[0].detail
    alone = evaluate(wants_more, None).flag("quality_time_deficit")  # B not answered yet
    assert alone is not None and alone.partners == ("A",)


def test_a_flag_names_every_partner_whose_own_answers_meet_a_rule() -> None:
    a = ordinary(fin_argue=5, fin_fair_decisions=1, fin_open=2)
    b = ordinary(fin_argue=5, fin_fair_decisions=2)
    old = evaluate(on_v1(a), on_v1(b), ruleset=RULES_V1).flag("financial_tension")
    assert old is not None and old.partners == ("A",)  # the issue: B said "Strongly agree" too
    flag = evaluate(a, b).flag("financial_tension")
    assert flag.partners == ("A", "B") and flag.hits[0].partners == ("A", "B")
    both = evaluate(ordinary(fin_argue=5), ordinary(fin_argue=5)).flag("financial_tension")
    assert both.partners == ("A", "B")
    assert evaluate(ordinary(fin_argue=5), ordinary()).flag("financial_tension").partners == ("A",)


# -------------------------------------------------------------------------- new statements
def test_each_new_statement_is_scored_and_raises_its_flag() -> None:
    usual = score_intake(INTAKE_V2, ordinary())
    for item_id, (challenge, rule_id, domain) in NEW_STATEMENTS.items():
        story = ordinary(**{item_id: 5})
        assert score_intake(INTAKE_V2, story)[domain] < usual[domain], item_id
        flag = evaluate(story, ordinary()).flag(challenge)
        assert flag is not None and rule_id in flag.rule_ids, item_id
        assert flag.partners == ("A",)
        shown = next(e for e in flag.evidence if e.item_id == item_id)
        assert (shown.text, shown.answer_a) == (INTAKE_V2.item(item_id).text, "Strongly agree")
    # Wanting to feel closer is not wanting more hours: no quality-time or mismatch flag.
    closer = evaluate(ordinary(int_want_closer=5), ordinary())
    assert [f.challenge_key for f in closer.flags] == ["intimacy_difficulty"]


def test_the_vignettes_answered_on_v2_still_raise_what_they_must() -> None:
    changed = {"extreme_same"}  # agrees with every worry, and v2 has more money worries
    for vignette in VIGNETTES:
        a, b = (on_intake_v2(x) if x else None for x in (vignette.a, vignette.b))
        raised = {f.challenge_key: f.partners for f in evaluate(a, b).flags}
        for key, partners in vignette.must_raise.items():
            assert key in raised and partners in (None, raised[key]), (vignette.name, key)
        ruled_out = set(vignette.must_not_raise) & set(raised)
        assert not ruled_out or vignette.name in changed, (vignette.name, ruled_out)
    pursuit = next(v for v in VIGNETTES if v.name == "pursue_withdraw")
    assert "quality_time_deficit" not in {
        f.challenge_key for f in evaluate(on_intake_v2(pursuit.a), on_intake_v2(pursuit.b)).flags
    }


# ------------------------------------------------------------------------- ruleset as data
def test_a_ruleset_with_bad_v2_fields_is_refused_naming_each_problem() -> None:
    text = (resources.files("counselor_app.flags") / "rules_v2.toml").read_text("utf-8")
    data: dict[str, Any] = copy.deepcopy(tomllib.loads(text))
    data["ruleset"]["margins"]["inches"] = 2
    data["ruleset"]["endorsement"]["share"] = 2
    rules = {rule["id"]: rule for rule in data["rules"]}
    rules["R-FIN-01"]["key_items"] = ["fin_argue", "fam_family_pressure"]
    rules["R-QT-02"]["unless_other_wants_less"] = "yes"
    rules["R-NEED-02"]["directions_from"] = "need_fit"
    with pytest.raises(RulesetError) as info:
        parse_ruleset(data)
    assert info.value.problems == [
        "[ruleset.margins]: unknown unit 'inches'",
        "[ruleset.endorsement]: share must be a number above 0 and at most 1",
        "R-FIN-01: key item 'fam_family_pressure' is not one the rule reads",
        "R-NEED-02: item 'need_fit' is likert, expected hours",
        "R-QT-02: unless_other_wants_less must be true or false",
    ]
    assert parse_ruleset(tomllib.loads(text)) == RULES_V2


# ----------------------------------------------------------------------------------- pages
@pytest.fixture(params=("standalone", "mounted"))
def site(request, backend):
    """(app, signed-in client, URL prefix, a function making a couple) in either setting."""
    if request.param == "standalone":
        app, therapist = request.getfixturevalue("app"), request.getfixturevalue("therapist")
        client = request.getfixturevalue("client")
        login(client, therapist)
        make = request.getfixturevalue("make_couple")
        return app, client, "", lambda: make(therapist)
    app, client = request.getfixturevalue("host"), request.getfixturevalue("host_client")

    def make_mounted() -> int:
        response = client.post_form(f"{PREFIX}/couples/new", COUPLE_FORM)
        return int(response.headers["Location"].rsplit("/", 1)[1])

    return app, client, PREFIX, make_mounted


def test_v1_couples_keep_v1_questions_and_rules_new_couples_get_v2(site) -> None:
    app, client, prefix, make = site
    old, new = make(), make()
    # A couple one of whose partners answered before v2: the other partner gets v1 too.
    money = next(v for v in VIGNETTES if v.name == "money_fights")
    seed_intake(app, old, "A", intake=dict(money.a), intake_version=1)
    seed_intake(app, new, "A", intake=ordinary(fin_hidden_spending=5))
    for couple_id, shown in ((old, False), (new, True)):
        page = client.get(step_url(couple_id, "B", "pressures", prefix)).get_data(as_text=True)
        assert ("fin_hidden_spending" in page) is shown, couple_id
    seed_intake(app, old, "B", intake=dict(money.b), intake_version=1)
    with app.app_context():
        rows = db.session.scalars(select(Flag).where(Flag.couple_id == old)).all()
        versions = db.session.scalars(
            select(Response.instrument_version).where(
                Response.couple_id == old, Response.instrument_id == "intake"
            )
        ).all()
        # Flagged by rules v1, exactly as the engine's v1 result for the same answers.
        expected = evaluate(money.a, money.b, ruleset=RULES_V1).flag("financial_tension")
        (flag,) = [f for f in rows if f.challenge_key == "financial_tension"]
        assert versions == [1, 1] and flag.ruleset_version == 1
        assert (flag.severity.value, flag.partners) == (expected.severity, "AB")
        assert [h["rule_version"] for h in flag.hits] == [1, 1] and not flag.borderline
    page = client.get(f"{prefix}/couples/{old}/assessment").get_data(as_text=True)
    assert "Money matters" in page and "R-FIN-01 v1" in page
    assert "Borderline — worth asking about" not in page


def test_the_assessment_page_shows_borderline_flags_and_results_worth_asking_about(site) -> None:
    app, client, prefix, make = site
    couple_id = make()
    neutral = on_intake_v2(NEUTRAL)
    seed_intake(app, couple_id, "A", intake={**neutral, "com_assume": 5, "bnd_unspoken": 4})
    seed_intake(app, couple_id, "B", intake=neutral)
    page = client.get(f"{prefix}/couples/{couple_id}/assessment").get_data(as_text=True)
    card = page[page.index("Communication gaps") : page.index("</article>", page.index("R-COM-01"))]
    assert ">Borderline</span>" in card and "within the margin of a threshold" in card
    assert "R-COM-01 v2" in card and "(low, borderline)" in card
    assert "exactly at it, borderline (within the margin of 0.25)" in card
    worth = page[page.index('id="worth-asking"') :]
    assert "Borderline — worth asking about (1)" in worth
    assert re.search(r"Boundary strain</strong> \(Partner A\):\s+<span[^>]*>R-BND-01 v2", worth)
    assert "3.25 against a threshold of 3.5: 0.25 below" in worth
    # A practice's own margin replaces the ruleset's (put back after: the site may be shared).
    previous = app.config.get("COUNSELOR_BORDERLINE_MARGINS")
    app.config["COUNSELOR_BORDERLINE_MARGINS"] = {"mean": 0.1}
    try:
        with app.test_request_context():
            assert ruleset_for(INTAKE_V2).margin("mean") == 0.1
            assert ruleset_for(INTAKE_V1) is RULES_V1  # v1 has no margins to replace
        page = client.get(f"{prefix}/couples/{couple_id}/assessment").get_data(as_text=True)
        assert 'id="worth-asking"' not in page
    finally:
        app.config["COUNSELOR_BORDERLINE_MARGINS"] = previous


def test_fhir_import_keeps_a_couple_on_the_intake_version_it_began(app, therapist, client):
    login(client, therapist)
    old, new = (add_couple(app, therapist.id) for _ in range(2))
    money = next(v for v in VIGNETTES if v.name == "money_fights")
    seed_intake(app, old, "A", intake=dict(money.a), intake_version=1)
    url = f"/couples/{old}/fhir/QuestionnaireResponse/intake-a-intake.json"
    resource = json.loads(client.get(url).get_data(as_text=True))
    assert resource["questionnaire"].endswith("/Questionnaire/intake|1")

    def send(couple_id: int, label: str):
        form = {"partner": label, "record_as": "", "pasted": json.dumps(resource)}
        return client.post_form(f"/couples/{couple_id}/fhir/import", form)

    refused = send(new, "A")
    assert refused.status_code == 422
    assert "answers are recorded on version 2 now" in refused.get_data(as_text=True)
    assert send(old, "B").status_code == 302  # the other partner of a v1 couple: v1 it is
    with app.app_context():
        stored = db.session.scalars(
            select(Response.instrument_version).where(
                Response.couple_id == old, Response.instrument_id == "intake"
            )
        ).all()
    assert stored == [1, 1]


def test_half_the_statements_endorsed_counts_only_with_at_least_neutral_concern() -> None:
    # Agree, Agree, Strongly disagree, Strongly disagree with four money worries: mean 2.5.
    split = ordinary(fin_argue=4, fin_open=2, fin_fair_decisions=5, fin_own_money=5)
    flags = evaluate(split, ordinary())
    assert flags.flag("financial_tension") is None
    assert RULES_V2.endorsed_min_mean == 3.0


def test_monitoring_strongly_endorsed_adds_a_therapist_note_and_no_joint_exercise() -> None:
    note = (
        "Partner A strongly agreed that their messages are read or their whereabouts tracked: "
        "ask about it on their own before joint work (possible coercive control)."
    )
    for item_id in ("priv_reads_messages", "priv_tracks_location"):
        evaluation = evaluate(ordinary(**{item_id: 5}), ordinary())
        assert note in evaluation.notes, item_id
        assert evaluation.flag("boundary_strain").strategies == ()
    assert not any(
        "coercive" in n for n in evaluate(ordinary(priv_reads_messages=4), ordinary()).notes
    )
    by_id = {rule.id: rule for rule in RULES_V2.rules}
    assert by_id["R-BND-02"].strategies == () and by_id["R-FIN-03"].strategies == (
        "professional_support",
    )
    for rule_id in ("R-BND-02", "R-FIN-03"):
        assert "on their own first" in by_id[rule_id].description
        assert "coercive control" in by_id[rule_id].description


@pytest.mark.parametrize(
    "margins", [[0.25], {"mean": -1}, {"furlongs": 1}, {"mean": "wide"}, "0.25"]
)
def test_a_bad_borderline_margins_setting_stops_the_app_from_starting(tmp_path, margins) -> None:
    from counselor_app import ConfigurationError, create_app

    settings = {"TESTING": True, "COUNSELOR_BORDERLINE_MARGINS": margins}
    with pytest.raises(ConfigurationError, match=r"^COUNSELOR_BORDERLINE_MARGINS: ") as raised:
        create_app(settings, instance_path=str(tmp_path))
    assert "\n" not in raised.value.message
