"""The assessment page: scores side by side, flags with evidence, decisions, safety, export."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from conftest import login
from counselor_app.extensions import db
from counselor_app.models import Flag, FlagOrigin, FlagStatus, SafetyAlert
from intake_support import CSI_DISTRESSED, CSI_SATISFIED, enter_intake_via_web, seed_intake
from route_walk import routes
from vignettes import NEUTRAL, SAFE, VIGNETTES

VIGNETTE = {v.name: v for v in VIGNETTES}
MONEY = VIGNETTE["money_fights"]


@pytest.fixture
def couple_id(therapist, make_couple):
    return make_couple(therapist, ("Avery", "Blake"))


def flags(app, couple_id):
    with app.app_context():
        rows = db.session.scalars(select(Flag).where(Flag.couple_id == couple_id)).all()
        return {flag.challenge_key: flag for flag in rows}


def assessment_page(client, couple_id):
    response = client.get(f"/couples/{couple_id}/assessment")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def seed_money_couple(app, couple_id):
    """Both partners of the couple who argue over money; returns the flag it raises."""
    seed_intake(app, couple_id, "A", intake=dict(MONEY.a))
    seed_intake(app, couple_id, "B", intake=dict(MONEY.b))
    return flags(app, couple_id)["financial_tension"]


def decide(client, couple_id, flag, kind, version=None, **fields):
    """Post one of a flag's forms the way the page names its fields."""
    prefix = f"flag{flag.id}-{kind}"
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    data[f"{prefix}-version"] = str(flag.version if version is None else version)
    return client.post_form(f"/couples/{couple_id}/flags/{flag.id}/{kind}", data)


def rescore_now(app, couple_id):
    from counselor_app.assessment.services import rescore
    from counselor_app.models import Couple

    with app.app_context():
        rescore(db.session.get(Couple, couple_id))
        db.session.commit()


def flag_section(page, flag_id):
    start = page.index(f'id="flag-{flag_id}"')
    return page[start : page.index("</article>", start)]


def test_both_intakes_through_the_web_raise_transparent_flags(app, logged_in, couple_id):
    enter_intake_via_web(logged_in, couple_id, "A", intake=dict(MONEY.a), csi=CSI_SATISFIED)
    enter_intake_via_web(logged_in, couple_id, "B", intake=dict(MONEY.b), csi=CSI_DISTRESSED)
    found = flags(app, couple_id)
    assert "financial_tension" in found
    assert found["financial_tension"].status == FlagStatus.SUGGESTED
    page = assessment_page(logged_in, couple_id)
    section = flag_section(page, found["financial_tension"].id)
    assert "Financial tension" in section
    assert "Severity:" in section
    # Evidence: item id, its wording, and each partner's own answer label.
    evidence = found["financial_tension"].evidence
    fair = next(e for e in evidence if e["item_id"] == "fin_fair_decisions")
    assert fair["answer_a"] == "Agree" and fair["answer_b"] == "Strongly disagree"
    assert "fin_fair_decisions" in section and fair["text"] in section
    assert "R-FIN-0" in section
    # CSI-4 against the cut-off, per partner.
    rows = re.findall(
        r"<tr>\s*<th scope=\"row\">(.*?)</th>.*?<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>",
        page,
        re.S,
    )
    csi = {
        name: (total, reading) for name, _, total, reading in rows if "(A)" in name or "(B)" in name
    }
    assert csi["Avery (A)"] == ("16", "▲ Above the cut-off")
    assert csi["Blake (B)"] == ("8", "▼ In the distressed range")
    # Domains side by side with a reading; money is a growth area for this couple.
    assert "Domain profiles side by side" in page
    assert "Money matters" in page and "Growth area" in page
    for key in MONEY.must_not_raise:
        assert key not in found


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_every_vignette_stored_and_rescored_gives_its_flags(app, couple_id, vignette):
    # Stored on intake v1, as couples answered before v2: still flagged exactly as by rules v1.
    for label, answers, safety in (
        ("A", vignette.a, vignette.safety_a),
        ("B", vignette.b, vignette.safety_b),
    ):
        if answers is not None:
            seed_intake(
                app, couple_id, label, intake=dict(answers), safety=dict(safety), intake_version=1
            )
    found = flags(app, couple_id)
    for key, partners in vignette.must_raise.items():
        assert key in found, key
        if partners is not None:
            assert found[key].partners == "".join(partners), key
    for key in vignette.must_not_raise:
        assert key not in found, key
    if vignette.no_flags:
        assert found == {}
    with app.app_context():
        alert = db.session.scalar(select(SafetyAlert).where(SafetyAlert.couple_id == couple_id))
    assert (alert is not None) == bool(vignette.safety_alert_for)


def test_one_partner_missing_gives_a_clear_note_and_no_dyadic_flags(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A", intake=dict(VIGNETTE["pursue_withdraw"].a))
    page = assessment_page(logged_in, couple_id)
    assert "dyadic flags" in page
    from counselor_app.flags.rules import DYADIC_KINDS

    raised = flags(app, couple_id)
    assert raised, "the pursuing partner's own answers still raise individual flags"
    for flag in raised.values():
        assert not any(hit["kind"] in DYADIC_KINDS for hit in flag.hits)
        assert flag.partners == "A"


def test_confirm_and_dismiss_with_a_required_reason(app, logged_in, couple_id):
    flag = seed_money_couple(app, couple_id)
    response = decide(logged_in, couple_id, flag, "dismiss", reason="  ")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="flag{flag.id}-dismiss-reason-error"' in page
    assert "Give a reason for dismissing this flag." in page
    assert flags(app, couple_id)["financial_tension"].status == FlagStatus.SUGGESTED

    response = decide(logged_in, couple_id, flag, "confirm", note="Money came up twice in session.")
    assert response.status_code == 302
    confirmed = flags(app, couple_id)["financial_tension"]
    assert confirmed.status == FlagStatus.CONFIRMED
    assert confirmed.note == "Money came up twice in session."
    page = assessment_page(logged_in, couple_id)
    assert "Confirmed by Dana Whitfield" in flag_section(page, flag.id)

    response = decide(logged_in, couple_id, confirmed, "dismiss", reason="Resolved before intake.")
    assert response.status_code == 302
    dismissed = flags(app, couple_id)["financial_tension"]
    assert dismissed.status == FlagStatus.DISMISSED
    assert dismissed.dismiss_reason == "Resolved before intake."


def test_a_decision_from_a_stale_page_is_refused(app, logged_in, couple_id):
    flag = seed_money_couple(app, couple_id)
    decide(logged_in, couple_id, flag, "confirm", note="first")
    response = decide(logged_in, couple_id, flag, "dismiss", reason="typed in the second tab")
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "typed in the second tab" in page
    assert flags(app, couple_id)["financial_tension"].status == FlagStatus.CONFIRMED


def test_rescoring_refreshes_suggestions_but_keeps_every_decision(app, logged_in, couple_id):
    seed_money_couple(app, couple_id)
    money = flags(app, couple_id)["financial_tension"]
    decide(logged_in, couple_id, money, "dismiss", reason="Already in financial counselling.")
    # B's answers change after completion: money now looks fine for both.
    from intake_support import post_step

    calm = {"fin_fair_decisions": 4, "fin_open": 4, "fin_argue": 2, "fin_own_money": 4}
    pressures = {k: NEUTRAL[k] for k in NEUTRAL if k.startswith(("fin_", "fam_", "soc_"))}
    for label in ("a", "b"):
        response = post_step(logged_in, couple_id, label, "pressures", {**pressures, **calm})
        assert response.status_code == 302
    after = flags(app, couple_id)["financial_tension"]
    assert after.status == FlagStatus.DISMISSED
    assert after.dismiss_reason == "Already in financial counselling."
    assert after.currently_suggested is False
    page = assessment_page(logged_in, couple_id)
    assert "no longer raise this flag" in flag_section(page, money.id)


def test_add_a_flag_by_hand(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    assert flags(app, couple_id) == {}
    response = logged_in.post_form(
        f"/couples/{couple_id}/flags/new",
        {
            "add-challenge_key": "boundary_strain",
            "add-severity": "moderate",
            "add-partners": "B",
            "add-note": "",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="add-note-error"' in page and "Say briefly what you observed." in page
    assert 'value="boundary_strain" selected' in page or 'selected value="boundary_strain"' in page

    response = logged_in.post_form(
        f"/couples/{couple_id}/flags/new",
        {
            "add-challenge_key": "boundary_strain",
            "add-severity": "moderate",
            "add-partners": "B",
            "add-note": "B describes phone checking.",
        },
    )
    assert response.status_code == 302
    added = flags(app, couple_id)["boundary_strain"]
    assert (added.origin, added.status, added.partners) == (
        FlagOrigin.THERAPIST,
        FlagStatus.CONFIRMED,
        "B",
    )
    again = logged_in.post_form(
        f"/couples/{couple_id}/flags/new",
        {
            "add-challenge_key": "boundary_strain",
            "add-severity": "high",
            "add-partners": "AB",
            "add-note": "again",
        },
    )
    assert again.status_code == 422
    assert "already on the couple" in again.get_data(as_text=True)
    # A hand-added flag survives a re-score that does not suggest it.
    rescore_now(app, couple_id)
    assert flags(app, couple_id)["boundary_strain"].status == FlagStatus.CONFIRMED


def test_positive_safety_screen_raises_a_therapist_only_alert(app, logged_in, couple_id):
    from intake_support import post_step

    response = post_step(logged_in, couple_id, "b", "safety", {**SAFE, "saf_fear": "yes"})
    assert response.status_code == 302  # acted on at once, even though the intake is a draft
    couple_page = logged_in.get(f"/couples/{couple_id}").get_data(as_text=True)
    # The couple page may be on screen with both partners present: it says only that
    # something needs review, never what.
    assert "An item needs your review before joint work continues." in couple_page
    for word in ("Safety alert", "safety screen", "afraid", "fear"):
        assert word not in couple_page
    page = assessment_page(logged_in, couple_id)
    assert "Safety alert: decision needed" in page
    assert "No joint handout can be produced" in page
    with app.app_context():
        alert = db.session.scalar(select(SafetyAlert))
        assert alert.partners == "B" and alert.is_open
        version = alert.version

    response = logged_in.post_form(
        f"/couples/{couple_id}/safety/decision",
        {"safety-decision": "individual_first", "safety-note": "", "safety-version": str(version)},
    )
    assert response.status_code == 422
    assert "Record the plan or reasoning" in response.get_data(as_text=True)
    response = logged_in.post_form(
        f"/couples/{couple_id}/safety/decision",
        {
            "safety-decision": "individual_first",
            "safety-note": "Seen alone on 3 Dec.",
            "safety-version": str(version),
        },
    )
    assert response.status_code == 302
    page = assessment_page(logged_in, couple_id)
    assert "Safety alert: decision recorded" in page
    assert "Individual sessions before any joint work" in page
    couple_page = logged_in.get(f"/couples/{couple_id}").get_data(as_text=True)
    assert "needs your review" not in couple_page

    # Something new disclosed after the decision reopens the alert.
    post_step(
        logged_in, couple_id, "b", "safety", {**SAFE, "saf_fear": "yes", "saf_threats": "yes"}
    )
    with app.app_context():
        alert = db.session.scalar(select(SafetyAlert))
        assert alert.is_open
        assert alert.positive_items["B"] == ["saf_fear", "saf_threats"]


def test_export_has_answers_scores_flags_and_decisions(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A", intake={**dict(MONEY.a), "bg_goals": "Fewer fights"})
    seed_intake(app, couple_id, "B", intake=dict(MONEY.b), csi=CSI_DISTRESSED)
    flag = flags(app, couple_id)["financial_tension"]
    decide(logged_in, couple_id, flag, "confirm", note="Agreed focus")
    response = logged_in.get(f"/couples/{couple_id}/intake/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    partner_a, partner_b = data["partners"]
    intake_a = partner_a["responses"]["intake"]
    assert intake_a["instrument"] == {"id": "intake", "version": 2}
    goals = next(a for a in intake_a["answers"] if a["item_id"] == "bg_goals")
    assert goals["value"] == "Fewer fights"
    assert partner_b["csi4"]["total"] == 8 and partner_b["csi4"]["distressed"] is True
    assert any(d["domain"] == "finances" for d in data["domains"])
    exported = next(f for f in data["flags"] if f["challenge_key"] == "financial_tension")
    assert exported["status"] == "confirmed" and exported["note"] == "Agreed focus"
    assert exported["evidence"] and exported["rules"]


def test_another_therapist_gets_404_on_assessment_routes(app, client, make_therapist, make_couple):
    owner = make_therapist("Owner")
    couple_id = make_couple(owner)
    seed_intake(app, couple_id, "A", intake=dict(MONEY.a), safety={**SAFE, "saf_fear": "yes"})
    seed_intake(app, couple_id, "B", intake=dict(MONEY.b))
    flag = flags(app, couple_id)["financial_tension"]
    login(client, make_therapist("Intruder"))
    assert client.get(f"/couples/{couple_id}/assessment").status_code == 404
    for kind, fields in [("confirm", {}), ("dismiss", {"reason": "x"}), ("reset", {})]:
        assert decide(client, couple_id, flag, kind, **fields).status_code == 404, kind
    for url, data in [
        (
            f"/couples/{couple_id}/flags/new",
            {"add-challenge_key": "boundary_strain", "add-severity": "low", "add-note": "x"},
        ),
        (
            f"/couples/{couple_id}/safety/decision",
            {"safety-decision": "joint_ok", "safety-note": "x", "safety-version": "1"},
        ),
    ]:
        assert client.post_form(url, data).status_code == 404, url
    after = flags(app, couple_id)
    assert after["financial_tension"].status == FlagStatus.SUGGESTED
    assert "boundary_strain" not in after
    with app.app_context():
        assert db.session.scalar(select(SafetyAlert)).is_open


def test_a_flag_of_another_couple_is_404_even_for_its_own_therapist(
    app, logged_in, therapist, make_couple
):
    first = make_couple(therapist, ("One", "Two"))
    second = make_couple(therapist, ("Three", "Four"))
    seed_intake(app, first, "A", intake=dict(MONEY.a))
    seed_intake(app, first, "B", intake=dict(MONEY.b))
    flag = flags(app, first)["financial_tension"]
    response = decide(logged_in, second, flag, "confirm")
    assert response.status_code == 404
    assert flags(app, first)["financial_tension"].status == FlagStatus.SUGGESTED


def test_assessment_html_has_unique_ids(app, logged_in, couple_id):
    safety = {**SAFE, "saf_fear": "yes", "saf_notes": "A note to read."}  # alert and notice
    seed_intake(app, couple_id, "A", intake=dict(MONEY.a), safety=safety)
    seed_intake(app, couple_id, "B", intake=dict(VIGNETTE["enmeshed"].a))
    page = assessment_page(logged_in, couple_id)
    ids = re.findall(r'\sid="([^"]+)"', page)
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates


def test_a_note_on_the_safety_screen_raises_a_notice_and_is_shown(app, logged_in, couple_id):
    from intake_support import post_step

    post_step(logged_in, couple_id, "a", "safety", {**SAFE, "saf_notes": "Pushed me last month"})
    page = assessment_page(logged_in, couple_id)
    assert "Read before joint work: note not yet read" in page
    assert "Safety alert" not in page  # a note is not a positive screen (tests/test_safety.py)
    assert "Pushed me last month" in page


def test_a_retracted_disclosure_stays_on_the_alert(app, logged_in, couple_id):
    from intake_support import post_step

    post_step(logged_in, couple_id, "a", "safety", {**SAFE, "saf_threats": "yes"})
    post_step(logged_in, couple_id, "a", "safety", {**SAFE, "saf_threats": "no"})
    page = assessment_page(logged_in, couple_id)
    assert "Safety alert: decision needed" in page
    start = page.index("Safety screen items disclosed")
    table = page[start : page.index("</table>", start)]
    assert "saf_threats" in table and "<td>No</td>" in table


def test_an_unanswered_safety_screen_is_pointed_out(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A")
    page = assessment_page(logged_in, couple_id)
    assert "Partner B's safety screen is not complete" in page
    assert "Partner A's safety screen is not complete" not in page


def test_rules_never_overwrite_a_flag_the_therapist_added(app, logged_in, couple_id):
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    logged_in.post_form(
        f"/couples/{couple_id}/flags/new",
        {
            "add-challenge_key": "financial_tension",
            "add-severity": "high",
            "add-partners": "B",
            "add-note": "Raised money in the first call.",
        },
    )
    # Later answers make the rules raise the same challenge, at their own severity and partners.
    from counselor_app.models import Couple, Response

    with app.app_context():
        for response in db.session.scalars(
            select(Response).where(Response.instrument_id == "intake")
        ):
            response.answers = dict(MONEY.a if response.partner.label == "A" else MONEY.b)
        db.session.commit()
    rescore_now(app, couple_id)
    flag = flags(app, couple_id)["financial_tension"]
    assert (flag.origin, flag.status, flag.severity.value, flag.partners) == (
        FlagOrigin.THERAPIST,
        FlagStatus.CONFIRMED,
        "high",
        "B",
    )
    assert flag.note == "Raised money in the first call."
    assert flag.currently_suggested and flag.evidence  # the rules' evidence is shown alongside
    with app.app_context():
        assert db.session.get(Couple, couple_id) is not None


def test_rescoring_unchanged_answers_leaves_open_pages_valid(app, logged_in, couple_id):
    seed_money_couple(app, couple_id)
    before = flags(app, couple_id)["financial_tension"].version
    rescore_now(app, couple_id)
    rescore_now(app, couple_id)
    assert flags(app, couple_id)["financial_tension"].version == before


def test_after_a_conflict_the_kept_text_can_be_saved(app, logged_in, couple_id):
    flag = seed_money_couple(app, couple_id)
    decide(logged_in, couple_id, flag, "confirm", note="first tab")
    response = decide(logged_in, couple_id, flag, "dismiss", reason="second tab reason")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    field = f"flag{flag.id}-dismiss-version"
    version = re.search(rf'id="{field}" name="{field}" type="hidden" value="(\d+)"', page).group(1)
    again = decide(
        logged_in, couple_id, flag, "dismiss", version=version, reason="second tab reason"
    )
    assert again.status_code == 302
    assert flags(app, couple_id)["financial_tension"].dismiss_reason == "second tab reason"


def test_a_conflicting_confirm_keeps_its_note_and_says_why(app, logged_in, couple_id):
    flag = seed_money_couple(app, couple_id)
    decide(logged_in, couple_id, flag, "confirm", note="from the first tab")
    response = decide(logged_in, couple_id, flag, "confirm", note="from the second tab")
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    section = flag_section(page, flag.id)
    assert "from the second tab" in section and "changed in another tab" in section
    assert flags(app, couple_id)["financial_tension"].note == "from the first tab"


@pytest.mark.parametrize("version", ["abc", "", "-1", "99999999999999999999"])
def test_a_tampered_version_is_a_clear_4xx(app, logged_in, couple_id, version):
    flag = seed_money_couple(app, couple_id)
    response = decide(logged_in, couple_id, flag, "confirm", version=version, note="x")
    assert response.status_code == 422
    assert "out of date" in response.get_data(as_text=True)
    assert flags(app, couple_id)["financial_tension"].status == FlagStatus.SUGGESTED


def test_pages_with_client_data_are_not_cached(logged_in, couple_id):
    for url in [
        "/",
        f"/couples/{couple_id}",
        f"/couples/{couple_id}/assessment",
        f"/couples/{couple_id}/intake/a/background",
    ]:
        assert logged_in.get(url).headers["Cache-Control"] == "no-store", url


def test_every_page_of_a_couple_with_an_open_safety_alert_shows_the_banner(
    app, logged_in, therapist, make_couple
):
    couple_id = make_couple(therapist)
    quiet_id = make_couple(therapist, ("Lee", "Kim"))
    seed_intake(app, couple_id, "A", safety={**SAFE, "saf_fear": "yes"})
    banner = "An item needs your review before joint work continues"
    pages = [
        route
        for route in routes(app)
        if "GET" in route.methods
        and route.arguments <= {"couple_id", "label", "slug"}
        and "couple_id" in route.arguments
        and not route.rule.endswith((".json", ".zip", ".pdf"))
    ]
    assert len(pages) >= 8
    for route in pages:
        page = logged_in.get(route.url({"couple_id": couple_id}), follow_redirects=True)
        assert banner in page.get_data(as_text=True), route.rule
        quiet = logged_in.get(route.url({"couple_id": quiet_id}), follow_redirects=True)
        assert banner not in quiet.get_data(as_text=True), route.rule
    # Deciding the alert takes the banner away.
    with app.app_context():
        version = db.session.scalar(select(SafetyAlert.version))
    logged_in.post_form(
        f"/couples/{couple_id}/safety/decision",
        {
            "safety-decision": "individual_first",
            "safety-note": "Seen alone first.",
            "safety-version": str(version),
        },
    )
    assert banner not in logged_in.get(f"/couples/{couple_id}").get_data(as_text=True)
