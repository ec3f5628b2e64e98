"""Entering each partner's intake: drafts, required items, bad input, privacy, changes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from conftest import login
from counselor_app.extensions import db
from counselor_app.intake.services import steps
from counselor_app.models import Response, ResponseChange, ResponseStatus
from intake_support import enter_intake_via_web, page_version, post_step, step_url
from vignettes import NEUTRAL

MARKER_A = "MARKER-ALPHA-7f3c goals in my own words"
MARKER_B = "MARKER-BRAVO-91ad something private"


@pytest.fixture
def couple_id(therapist, make_couple):
    return make_couple(therapist, ("Avery", "Blake"))


def responses(app, couple_id):
    with app.app_context():
        return db.session.scalars(select(Response).where(Response.couple_id == couple_id)).all()


def test_entry_pages_are_generated_from_the_instrument(logged_in, couple_id):
    page = logged_in.get(step_url(couple_id, "a", "csi4")).get_data(as_text=True)
    # The CSI-4 is shown verbatim, with its source and licence.
    assert (
        "Please indicate the degree of happiness, all things considered, of your relationship."
        in page
    )
    assert "Extremely unhappy" in page and "Perfect" in page
    assert "Funk" in page and "without further permission" in page
    first = logged_in.get(f"/couples/{couple_id}/intake/a", follow_redirects=True)
    text = first.get_data(as_text=True)
    assert "About your relationship" in text
    assert 'type="radio"' in text and 'type="number"' in text
    assert "Required answers: 0 of" in text


def test_draft_saves_and_resumes(app, logged_in, couple_id):
    response = post_step(
        logged_in, couple_id, "a", "independence", {"ind_hobbies": 4, "ind_goals": 2}, action="save"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(step_url(couple_id, "a", "independence"))
    page = logged_in.get(step_url(couple_id, "a", "independence")).get_data(as_text=True)
    assert 'checked id="ind_hobbies-3"' in page
    stored = responses(app, couple_id)
    assert len(stored) == 1
    assert stored[0].status == ResponseStatus.DRAFT
    assert stored[0].answers == {"ind_hobbies": 4, "ind_goals": 2}
    assert (stored[0].instrument_id, stored[0].instrument_version) == ("intake", 2)  # the latest
    couple_page = logged_in.get(f"/couples/{couple_id}").get_data(as_text=True)
    assert "Continue Avery's intake" in couple_page
    assert "draft, 2 of" in couple_page
    # Resuming goes to the first page that still needs answers.
    resume = logged_in.get(f"/couples/{couple_id}/intake/a")
    assert resume.headers["Location"].endswith(step_url(couple_id, "a", "background"))


def test_save_and_continue_moves_through_the_pages(logged_in, couple_id):
    response = post_step(logged_in, couple_id, "a", "independence", {"ind_hobbies": 4})
    assert response.headers["Location"].endswith(step_url(couple_id, "a", "togetherness"))
    response = post_step(logged_in, couple_id, "a", "togetherness", {}, action="prev")
    assert response.headers["Location"].endswith(step_url(couple_id, "a", "independence"))
    response = post_step(logged_in, couple_id, "a", "safety", {"saf_fear": "no"})
    assert response.headers["Location"].endswith(f"/couples/{couple_id}/intake/a/review")


def test_completion_requires_every_required_answer(app, logged_in, couple_id):
    post_step(logged_in, couple_id, "a", "independence", {"ind_hobbies": 4})
    response = logged_in.post_form(f"/couples/{couple_id}/intake/a/review")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "cannot be marked complete yet" in page
    assert re.search(r"<title>Error: Review", page)  # said before any script runs
    assert "<title>Error:" not in logged_in.get(f"/couples/{couple_id}/intake/a/review").text
    listed = dict(re.findall(r">([^<>]+)</a>:\s*(\d+) questions?", page))
    expected = {
        step.section.title: str(
            sum(item.required for item in step.section.items)
            - (1 if step.slug == "independence" else 0)
        )
        for step in steps()
        if any(item.required for item in step.section.items)
    }
    assert listed == expected
    assert all(r.status == ResponseStatus.DRAFT for r in responses(app, couple_id))


def test_full_intake_completes(app, logged_in, couple_id):
    enter_intake_via_web(logged_in, couple_id, "A", intake={**NEUTRAL, "bg_goals": MARKER_A})
    stored = {r.instrument_id: r for r in responses(app, couple_id)}
    assert set(stored) == {"intake", "csi4", "safety"}
    assert all(r.status == ResponseStatus.COMPLETE and r.completed_at for r in stored.values())
    assert stored["intake"].answers["bg_goals"] == MARKER_A
    assert stored["csi4"].instrument_version == 1
    page = logged_in.get(f"/couples/{couple_id}").get_data(as_text=True)
    assert "✓ complete" in page


def test_out_of_range_hours_keep_every_answer_and_point_at_the_field(app, logged_in, couple_id):
    values = {
        "bg_stage": "married",
        "bg_hours_together_now": "200",
        "bg_hours_alone_now": "6",
        "bg_goals": "Typed goals survive an error",
    }
    response = post_step(logged_in, couple_id, "a", "background", values)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    error_at = page.index('id="bg_hours_together_now-error"')
    assert "Enter a whole number of hours from 0 to 168." in page[error_at : error_at + 300]
    assert 'aria-invalid="true"' in page
    assert 'value="200"' in page and 'value="6"' in page
    assert "Typed goals survive an error" in page
    assert 'checked id="bg_stage-2"' in page
    assert responses(app, couple_id) == []


@pytest.mark.parametrize(
    ("slug", "values", "field"),
    [
        ("independence", {"ind_hobbies": "9"}, "ind_hobbies"),
        ("independence", {"ind_hobbies": "strongly"}, "ind_hobbies"),
        ("csi4", {"csi_1": "7"}, "csi_1"),
        ("background", {"bg_stage": "situationship"}, "bg_stage"),
        ("background", {"bg_hours_alone_want": "-1"}, "bg_hours_alone_want"),
        ("background", {"bg_hours_alone_want": "ten"}, "bg_hours_alone_want"),
    ],
)
def test_tampered_values_are_field_errors_and_nothing_is_stored(
    app, logged_in, couple_id, slug, values, field
):
    response = post_step(logged_in, couple_id, "a", slug, values)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page
    assert responses(app, couple_id) == []


def test_unknown_item_ids_are_refused_with_400(app, logged_in, couple_id):
    response = post_step(
        logged_in, couple_id, "a", "independence", {"ind_hobbies": 4, "not_an_item": 3}
    )
    assert response.status_code == 400
    assert "does not have" in response.get_data(as_text=True)
    # An item that belongs to a different page is just as foreign to this one.
    response = post_step(logged_in, couple_id, "a", "independence", {"csi_1": 3})
    assert response.status_code == 400
    assert responses(app, couple_id) == []


def test_unknown_partner_or_page_is_404(logged_in, couple_id):
    assert logged_in.get(f"/couples/{couple_id}/intake/c").status_code == 404
    assert logged_in.get(step_url(couple_id, "a", "no-such-page")).status_code == 404


def test_a_partners_answers_never_appear_on_the_other_partners_pages(app, logged_in, couple_id):
    enter_intake_via_web(
        logged_in, couple_id, "A", intake={**NEUTRAL, "bg_goals": MARKER_A, "pres_notes": MARKER_A}
    )
    enter_intake_via_web(logged_in, couple_id, "B", intake={**NEUTRAL, "bg_goals": MARKER_B})
    for step in steps():
        page_b = logged_in.get(step_url(couple_id, "b", step.slug)).get_data(as_text=True)
        assert "MARKER-ALPHA" not in page_b, step.slug
        page_a = logged_in.get(step_url(couple_id, "a", step.slug)).get_data(as_text=True)
        assert "MARKER-BRAVO" not in page_a, step.slug
    for label, foreign in (("b", "MARKER-ALPHA"), ("a", "MARKER-BRAVO")):
        review = logged_in.get(f"/couples/{couple_id}/intake/{label}/review")
        assert foreign not in review.get_data(as_text=True)
    # Sanity check that the markers are there to be found on their own partner's page.
    own = logged_in.get(step_url(couple_id, "a", "background")).get_data(as_text=True)
    assert MARKER_A in own


def page_values(slug):
    """The neutral answers of one page, as a browser would resend them."""
    step = next(s for s in steps() if s.slug == slug)
    return {item.id: NEUTRAL[item.id] for item in step.section.items if item.id in NEUTRAL}


def test_changes_after_completion_are_recorded_and_rescored(app, logged_in, couple_id):
    enter_intake_via_web(logged_in, couple_id, "A")
    response = post_step(
        logged_in,
        couple_id,
        "a",
        "pressures",
        {
            **page_values("pressures"),
            "fin_argue": 5,
            "fin_fair_decisions": 1,
            "fin_open": 1,
            "fin_own_money": 1,
        },
    )
    assert response.status_code == 302
    with app.app_context():
        changes = db.session.scalars(select(ResponseChange)).all()
        assert {c.item_id for c in changes} == {
            "fin_argue",
            "fin_fair_decisions",
            "fin_open",
            "fin_own_money",
        }
        argue = next(c for c in changes if c.item_id == "fin_argue")
        assert (argue.old_value, argue.new_value) == (3, 5)
    assessment = logged_in.get(f"/couples/{couple_id}/assessment").get_data(as_text=True)
    assert "Answers changed after completion" in assessment
    assert "Financial tension" in assessment


def test_clearing_a_required_answer_after_completion_reopens_the_draft(app, logged_in, couple_id):
    enter_intake_via_web(logged_in, couple_id, "A")
    post_step(
        logged_in,
        couple_id,
        "a",
        "independence",
        {**page_values("independence"), "ind_hobbies": ""},
    )
    stored = {r.instrument_id: r for r in responses(app, couple_id)}
    assert stored["intake"].status == ResponseStatus.DRAFT
    assert "ind_hobbies" not in stored["intake"].answers


def test_two_tabs_second_save_is_a_conflict_and_keeps_its_text(app, logged_in, couple_id):
    url = step_url(couple_id, "a", "background")
    stale_version = page_version(logged_in, url)
    first = post_step(
        logged_in, couple_id, "a", "background", {"bg_goals": "First tab"}, version=stale_version
    )
    assert first.status_code == 302
    second = post_step(
        logged_in,
        couple_id,
        "a",
        "background",
        {"bg_goals": "Second tab text"},
        version=stale_version,
    )
    page = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "saved from another tab" in page
    assert "Second tab text" in page
    assert responses(app, couple_id)[0].answers["bg_goals"] == "First tab"


def test_another_therapist_cannot_reach_the_intake(app, client, make_therapist, make_couple):
    owner = make_therapist("Owner")
    couple_id = make_couple(owner)
    intruder = make_therapist("Intruder")
    login(client, intruder)
    for url in [
        f"/couples/{couple_id}/intake/a",
        step_url(couple_id, "a", "background"),
        f"/couples/{couple_id}/intake/a/review",
        f"/couples/{couple_id}/intake/export.json",
    ]:
        assert client.get(url).status_code == 404, url
    response = client.post_form(
        step_url(couple_id, "a", "background"), {"bg_stage": "married", "version": "0"}
    )
    assert response.status_code == 404
    assert client.post_form(f"/couples/{couple_id}/intake/a/review").status_code == 404
    assert responses(app, couple_id) == []


def test_a_partial_post_leaves_unsent_answers_alone(app, logged_in, couple_id):
    enter_intake_via_web(logged_in, couple_id, "A")
    response = post_step(logged_in, couple_id, "a", "independence", {"ind_hobbies": 5})
    assert response.status_code == 302
    intake = next(r for r in responses(app, couple_id) if r.instrument_id == "intake")
    assert intake.status == ResponseStatus.COMPLETE
    assert intake.answers["ind_hobbies"] == 5
    assert intake.answers["ind_goals"] == NEUTRAL["ind_goals"]


def autosave(client, couple_id, values, version):
    return client.post_form(
        step_url(couple_id, "a", "independence"),
        {**{k: str(v) for k, v in values.items()}, "version": str(version)},
        headers={"Accept": "application/json"},
    )


def test_autosave_keeps_a_draft_and_hands_back_the_new_version(app, logged_in, couple_id):
    url = step_url(couple_id, "a", "independence")
    page = logged_in.get(url).get_data(as_text=True)
    assert f'data-autosave="{url}"' in page and 'id="autosave-status"' in page
    first = autosave(logged_in, couple_id, {"ind_hobbies": 4}, 0)
    assert first.status_code == 200 and first.json["saved"] is True
    assert first.json["at"].endswith("+00:00")
    second = autosave(logged_in, couple_id, {"ind_hobbies": 5}, first.json["version"])
    assert second.status_code == 200 and second.json["version"] > first.json["version"]
    [stored] = responses(app, couple_id)
    assert stored.status == ResponseStatus.DRAFT and stored.answers == {"ind_hobbies": 5}
    # A save from a tab that missed the last autosave is a conflict, and changes nothing.
    stale = autosave(logged_in, couple_id, {"ind_hobbies": 1}, first.json["version"])
    assert stale.status_code == 409 and "another tab" in stale.json["error"]
    bad = autosave(logged_in, couple_id, {"ind_hobbies": 9}, second.json["version"])
    assert bad.status_code == 422 and bad.json["saved"] is False
    assert responses(app, couple_id)[0].answers == {"ind_hobbies": 5}


def test_a_completed_intake_is_not_autosaved(app, logged_in, couple_id):
    enter_intake_via_web(logged_in, couple_id, "A")
    page = logged_in.get(step_url(couple_id, "a", "independence")).get_data(as_text=True)
    assert "data-autosave" not in page and "autosave.js" not in page
