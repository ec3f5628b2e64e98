"""A therapist rewords shipped strategies, restores them, and adds their own."""

from __future__ import annotations

import re

from conftest import login
from counselor_app.library import load_library

SHIPPED = load_library().get("quality_time")


def strategy_form(**changes):
    data = {
        "title": "Our evening hour",
        "minutes": "20",
        "challenges": ["quality_time_deficit"],
        "therapist_guidance": "Agree a protected hour and debrief next session.",
        "client_explanation": "Pick one evening a week that is only for the two of you.",
        "steps": "Choose the evening\nPut phones in another room\nTalk about your week",
        "homework": "Keep your evening hour once this week.",
        "reflection_questions": "What helped you feel close?\nWhat got in the way?",
    }
    data.update(changes)
    return data


def version_on(page: str) -> str:
    return re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)


def test_library_lists_every_shipped_strategy(logged_in):
    page = logged_in.get("/library").get_data(as_text=True)
    for strategy in load_library().strategies:
        assert strategy.title.replace("'", "&#39;") in page
    assert page.count("Shipped") >= len(load_library().strategies)


def test_rewording_is_used_and_can_be_restored(app, logged_in):
    page = logged_in.get("/library/quality_time/edit").get_data(as_text=True)
    assert SHIPPED.client_explanation in page
    response = logged_in.post_form(
        "/library/quality_time/edit", strategy_form(version=version_on(page))
    )
    assert response.status_code == 302
    detail = logged_in.get("/library/quality_time").get_data(as_text=True)
    assert "Our evening hour" in detail and "Your wording" in detail
    # The shipped library is untouched.
    assert load_library().get("quality_time").title == SHIPPED.title
    # Another tab rewords it again after this page was opened: restoring from this page would
    # throw away wording it never showed, so it is refused and the wording stays.
    shown = version_on(detail)
    edit = logged_in.get("/library/quality_time/edit").get_data(as_text=True)
    data = strategy_form(version=version_on(edit), title="Our late hour")
    assert logged_in.post_form("/library/quality_time/edit", data).status_code == 302
    response = logged_in.post_form(
        "/library/quality_time/restore", {"version": shown}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "so it was not restored" in page and "Our late hour" in page
    response = logged_in.post_form(
        "/library/quality_time/restore", {"version": version_on(page)}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "Back to the shipped wording." in page
    assert SHIPPED.title.replace("'", "&#39;") in page


def test_own_strategy_is_added_and_offered_in_plans(app, logged_in, therapist, make_couple):
    page = logged_in.get("/library/new").get_data(as_text=True)
    response = logged_in.post_form("/library/new", strategy_form(version=version_on(page)))
    assert response.status_code == 302
    key = response.headers["Location"].rsplit("/", 1)[1]
    assert key == "own-our-evening-hour"
    couple_id = make_couple(therapist)
    plan_page = logged_in.get(f"/couples/{couple_id}/plans/new").get_data(as_text=True)
    assert f'value="{key}"' in plan_page and "Our evening hour" in plan_page


def test_strategy_form_errors_keep_the_text(logged_in):
    page = logged_in.get("/library/new").get_data(as_text=True)
    data = strategy_form(version=version_on(page), title="", minutes="500")
    response = logged_in.post_form("/library/new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="title-error"' in page and 'id="minutes-error"' in page
    assert "Pick one evening a week" in page and "Put phones in another room" in page


def test_a_stale_rewording_is_a_conflict(app, logged_in):
    page = logged_in.get("/library/quality_time/edit").get_data(as_text=True)
    stale = version_on(page)
    first = logged_in.post_form("/library/quality_time/edit", strategy_form(version=stale))
    assert first.status_code == 302
    second = logged_in.post_form(
        "/library/quality_time/edit", strategy_form(version=stale, title="Second tab title")
    )
    assert second.status_code == 409
    assert "Second tab title" in second.get_data(as_text=True)


def test_wording_and_own_strategies_are_private_to_their_therapist(app, client, make_therapist):
    author = make_therapist("Author")
    login(client, author)
    page = client.get("/library/new").get_data(as_text=True)
    key = (
        client.post_form("/library/new", strategy_form(version=version_on(page)))
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    page = client.get("/library/quality_time/edit").get_data(as_text=True)
    client.post_form("/library/quality_time/edit", strategy_form(version=version_on(page)))
    other = app.test_client()
    login(other, make_therapist("Colleague"))
    assert other.get(f"/library/{key}").status_code == 404
    assert other.get(f"/library/{key}/edit").status_code == 404
    assert other.post_form(f"/library/{key}/edit", strategy_form(version="1")).status_code == 404
    assert "Our evening hour" not in other.get("/library").get_data(as_text=True)
    own_view = other.get("/library/quality_time").get_data(as_text=True)
    assert SHIPPED.title.replace("'", "&#39;") in own_view


def test_the_handout_uses_the_therapists_wording(app, logged_in, therapist, make_couple):
    from intake_support import seed_intake
    from plan_support import issued, new_plan, pdf_text

    page = logged_in.get("/library/quality_time/edit").get_data(as_text=True)
    logged_in.post_form(
        "/library/quality_time/edit",
        strategy_form(version=version_on(page), client_explanation="Our own warm words here."),
    )
    couple_id = make_couple(therapist)
    seed_intake(app, couple_id, "A")
    seed_intake(app, couple_id, "B")
    plan_id = new_plan(logged_in, couple_id, strategies=["quality_time"])
    assert (
        logged_in.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/handout").status_code
        == 302
    )
    text = " ".join(pdf_text(issued(app, plan_id)[0][3]).split())
    assert "Our own warm words here." in text and "Our evening hour" in text
    assert SHIPPED.client_explanation not in text


def test_a_title_of_spaces_is_not_a_title(app, logged_in):
    page = logged_in.get("/library/new").get_data(as_text=True)
    response = logged_in.post_form(
        "/library/new", strategy_form(version=version_on(page), title="   ", steps=" \n ")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="title-error"' in page and 'id="steps-error"' in page
