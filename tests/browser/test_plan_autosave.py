"""The plan form saves itself while the therapist types (autosave.js), in Chromium.

The server side, standalone and mounted, is in tests/test_plan_autosave.py; here, that the
edit page's script does post what is typed, and that Save afterwards is not taken for a
conflict (the page carries the version the autosave answered).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import login
from counselor_app.extensions import db
from counselor_app.models import SessionPlan
from plan_support import new_plan

from .conftest import add_couple

pytestmark = pytest.mark.browser


def test_typed_goals_are_saved_without_save_and_save_still_works(
    live_server, world, signed_in_page
):
    app = live_server.app
    couple_id = add_couple(app, world.therapist, ("Quinn", "Rey"))
    client = app.test_client()
    assert login(client, world.therapist).status_code == 302
    plan_id = new_plan(client, couple_id)
    page = signed_in_page
    page.goto(live_server.url(f"/couples/{couple_id}/plans/{plan_id}/edit"))

    page.get_by_role("textbox", name="Goals").fill("Typed, never saved by hand.")
    expect(page.locator(".autosave-status")).to_contain_text("saved at", timeout=10_000)
    page.reload()
    expect(page.get_by_role("textbox", name="Goals")).to_have_value("Typed, never saved by hand.")

    page.get_by_role("textbox", name="Goals").fill("Typed, then autosaved, then saved.")
    expect(page.locator(".autosave-status")).to_contain_text("saved at", timeout=10_000)
    page.get_by_role("button", name="Save plan").click()
    page.wait_for_url(live_server.url(f"/couples/{couple_id}/plans/{plan_id}"))
    expect(page.get_by_text("Session plan saved.")).to_be_visible()
    with app.app_context():
        assert db.session.get(SessionPlan, plan_id).goals == "Typed, then autosaved, then saved."
