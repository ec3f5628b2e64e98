"""Text sent after automatic logoff is not lost: it comes back in its form after signing in."""

from __future__ import annotations

from sqlalchemy import func, select, text

from appointment_support import Visit, seed_history
from conftest import age_session, login
from counselor_app.extensions import db
from counselor_app.instruments import INTAKE_ID, load
from counselor_app.models import FormDraft, PrivateNote, Response, SessionNote
from intake_support import page_version, step_url

WORRY = "MARKERWORRYTEXT: we keep circling the same argument about holidays"


def free_text_step():
    """The first intake page with a free-text question, and that question's id."""
    from counselor_app.intake.services import steps

    for step in steps():
        for item in step.section.items:
            if step.instrument.id == INTAKE_ID and item.kind == "text":
                return step, item
    raise AssertionError("the intake has no free-text question")


def expire_and_post(client, url, data, **kwargs):
    token = client.csrf_token()
    age_session(client, idle_minutes=45)
    return client.post(url, data={"csrf_token": token, **data}, **kwargs)


def test_intake_text_sent_after_logoff_comes_back_after_signing_in(
    app, logged_in, therapist, make_couple
):
    couple_id = make_couple(therapist)
    step, item = free_text_step()
    url = step_url(couple_id, "A", step.slug)
    version = page_version(logged_in, url)

    response = expire_and_post(
        logged_in, url, {item.id: WORRY, "version": version, "action": "save"}
    )
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after 30 minutes" in page and "it has been kept" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Response)) == 0  # not saved
        stored = db.session.execute(text("SELECT fields FROM counselor_form_draft")).scalar_one()
        assert "MARKERWORRYTEXT" not in stored  # kept encrypted, like the answers themselves

    signed_in = login(logged_in, therapist)
    assert signed_in.headers["Location"].endswith(url)  # straight back to the form
    page = logged_in.get(url).get_data(as_text=True)
    assert WORRY in page
    assert "not saved yet" in page
    # Shown once: the draft is gone, and a reload shows what is stored (nothing).
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormDraft)) == 0
    assert WORRY not in logged_in.get(url).get_data(as_text=True)


def test_restored_intake_text_saves_normally(app, logged_in, therapist, make_couple):
    couple_id = make_couple(therapist)
    step, item = free_text_step()
    url = step_url(couple_id, "A", step.slug)
    version = page_version(logged_in, url)
    expire_and_post(logged_in, url, {item.id: WORRY, "version": version, "action": "save"})
    login(logged_in, therapist)
    page = logged_in.get(url).get_data(as_text=True)
    assert WORRY in page
    saved = logged_in.post_form(url, {item.id: WORRY, "version": version, "action": "save"})
    assert saved.status_code == 302
    with app.app_context():
        answers = db.session.scalars(select(Response.answers)).one()
        assert answers[item.id] == WORRY


def test_note_text_comes_back_on_the_appointment_page(app, logged_in, therapist, make_couple):
    couple_id = make_couple(therapist)
    [appointment_id] = seed_history(app, couple_id, [Visit()])
    page_url = f"/couples/{couple_id}/appointments/{appointment_id}"
    assert (
        logged_in.post_form(
            f"{page_url}/private-note", {"private-text": "Private words", "private-version": "0"}
        ).status_code
        == 302
    )
    response = expire_and_post(
        logged_in,
        f"{page_url}/note",
        {
            "note-dap_data": WORRY,
            "note-dap_assessment": "",
            "note-dap_plan": "",
            "note-version": "0",
            "action": "save",
        },
        headers={"Referer": f"http://localhost{page_url}"},
    )
    assert response.status_code == 302
    assert login(logged_in, therapist).headers["Location"].endswith(page_url)
    page = logged_in.get(page_url).get_data(as_text=True)
    assert WORRY in page
    # The other forms on the page show what is stored, untouched by the note's draft.
    assert "Private words" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SessionNote)) == 0
        assert db.session.scalars(select(PrivateNote.text)).one() == "Private words"


def test_a_draft_is_only_given_back_to_its_own_therapist(
    app, client, logged_in, therapist, make_therapist, make_couple
):
    couple_id = make_couple(therapist)
    step, item = free_text_step()
    url = step_url(couple_id, "A", step.slug)
    version = page_version(logged_in, url)
    expire_and_post(logged_in, url, {item.id: WORRY, "version": version, "action": "save"})
    other = make_therapist("Other Therapist")
    second = app.test_client()
    login(second, other)
    assert WORRY not in second.get(url).get_data(as_text=True)  # a 404 page, at that
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormDraft)) == 1


def test_a_post_with_a_bad_csrf_token_after_logoff_keeps_nothing(
    app, logged_in, therapist, make_couple
):
    couple_id = make_couple(therapist)
    step, item = free_text_step()
    url = step_url(couple_id, "A", step.slug)
    age_session(logged_in, idle_minutes=45)
    response = logged_in.post(url, data={"csrf_token": "forged", item.id: WORRY, "version": "0"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormDraft)) == 0


def test_the_intake_has_free_text():
    assert free_text_step()[1].id in {
        item.id for section in load(INTAKE_ID).sections for item in section.items
    }


def test_a_new_couple_form_comes_back_too(app, logged_in, therapist):
    response = expire_and_post(
        logged_in,
        "/couples/new",
        {"partner_a-display_name": "Jordan", "presenting_concerns": WORRY},
    )
    assert "it has been kept" in logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert login(logged_in, therapist).headers["Location"].endswith("/couples/new")
    page = logged_in.get("/couples/new").get_data(as_text=True)
    assert WORRY in page and 'value="Jordan"' in page


def test_forms_whose_page_cannot_give_text_back_are_not_kept_nor_promised(
    app, logged_in, therapist, make_couple
):
    couple_id = make_couple(therapist)
    response = expire_and_post(
        logged_in,
        f"/couples/{couple_id}/flags/new",
        {"add-challenge_key": "boundary_strain", "add-note": WORRY},
        # The referrer is a POST-only address (a page shown again after a refused save).
        headers={"Referer": f"http://localhost/couples/{couple_id}/flags/new"},
    )
    page = logged_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after 30 minutes" in page and "it has been kept" not in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FormDraft)) == 0
