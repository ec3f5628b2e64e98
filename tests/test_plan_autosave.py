"""The plan form saves itself while the therapist types, as the appointment note does.

Standalone and mounted in the reference host (tests/host_support.py): the edit page posts
its fields to the plan's autosave address (autosave.js), which answers {saved, version, at},
refuses a page that missed a save, and is a 404 for anyone but the couple's own therapist.
"""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from conftest import add_couple, login
from counselor_app.extensions import db
from counselor_app.models import AuditEvent, SessionPlan, Therapist
from host_support import (  # noqa: F401  (fixtures)
    PREFIX,
    clinician,
    host,
    host_client,
    host_template,
    other_clinician,
)
from plan_support import new_plan, plan_form


@dataclass
class Site:
    """The couple's therapist, and a therapist of another practice's couple, on one app."""

    app: Flask
    prefix: str
    owner: Any  # a signed-in test client
    couple_id: int
    stranger: Any
    strangers_couple_id: int

    def plan(self) -> int:
        return new_plan(self.owner, self.couple_id, prefix=self.prefix, goals="First goals.")

    def edit_url(self, plan_id: int, couple_id: int | None = None) -> str:
        return f"{self.prefix}/couples/{couple_id or self.couple_id}/plans/{plan_id}/edit"

    def autosave_url(self, plan_id: int, couple_id: int | None = None) -> str:
        return f"{self.prefix}/couples/{couple_id or self.couple_id}/plans/{plan_id}/autosave"


@pytest.fixture
def standalone(app, logged_in, therapist, make_therapist) -> Site:
    stranger = app.test_client()
    other = make_therapist("Other Practice")
    assert login(stranger, other).status_code == 302
    return Site(
        app, "", logged_in, add_couple(app, therapist.id), stranger, add_couple(app, other.id)
    )


def our_therapist_id(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Therapist.id).where(Therapist.email == email))


@pytest.fixture
def mounted(host, host_client, clinician, other_clinician) -> Site:
    stranger = host.test_client()
    stranger.sign_in(other_clinician)
    for client in (host_client, stranger):  # our therapist is made on a clinician's first visit
        assert client.get(f"{PREFIX}/").status_code == 200
    owner_id = our_therapist_id(host, clinician.email)
    stranger_id = our_therapist_id(host, other_clinician.email)
    return Site(
        host,
        PREFIX,
        host_client,
        add_couple(host, owner_id),
        stranger,
        add_couple(host, stranger_id, ("Robin", "Kim")),
    )


@pytest.fixture(params=["standalone", "mounted"])
def site(request: pytest.FixtureRequest, backend: str) -> Site:
    """``backend`` named here: the database parametrisation only sees static fixture names."""
    return request.getfixturevalue(request.param)


def autosave(client: Any, url: str, fields: dict[str, Any]) -> Any:
    """What autosave.js sends: the form's fields, asking for JSON."""
    return client.post_form(url, fields, headers={"Accept": "application/json"})


def edit_form(site: Site, plan_id: int) -> tuple[str, dict[str, Any]]:
    page = site.owner.get(site.edit_url(plan_id)).get_data(as_text=True)
    return page, plan_form(page)


def stored(site: Site, plan_id: int) -> tuple[str, int]:
    with site.app.app_context():
        plan = db.session.get(SessionPlan, plan_id)
        return plan.goals, plan.version


def test_typed_text_is_saved_without_pressing_save_and_is_there_after_a_reload(site):
    plan_id = site.plan()
    page, fields = edit_form(site, plan_id)
    assert f'data-autosave="{site.autosave_url(plan_id)}"' in page
    assert "js/autosave.js" in page and 'class="autosave-status"' in page
    _, version = stored(site, plan_id)

    response = autosave(site.owner, site.autosave_url(plan_id), {**fields, "goals": "Typed."})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.json["saved"] is True and response.json["version"] == version + 1
    assert datetime.fromisoformat(response.json["at"]).tzinfo is not None
    assert stored(site, plan_id) == ("Typed.", version + 1)
    reloaded, again = edit_form(site, plan_id)
    assert again["goals"].strip() == "Typed." and again["version"] == str(version + 1)
    assert re.search(r">\s*Typed\.</textarea>", reloaded)

    # Audited as any change to the plan is: the therapist, the couple, the plan.
    with site.app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.endpoint.like("%couple.plans.autosave"))
        ).all()
        assert [(e.action, e.object_type, e.object_id, e.couple_id) for e in events] == [
            ("update", "plan", plan_id, site.couple_id)
        ]


def test_a_page_that_missed_a_save_is_refused(site):
    plan_id = site.plan()
    _, fields = edit_form(site, plan_id)
    first = autosave(site.owner, site.autosave_url(plan_id), {**fields, "goals": "Tab one."})
    assert first.status_code == 200
    # Another tab, still on the version the page was built from.
    stale = autosave(site.owner, site.autosave_url(plan_id), {**fields, "goals": "Tab two."})
    assert stale.status_code == 409
    assert stale.json["saved"] is False and "another tab" in stale.json["error"]
    assert stored(site, plan_id) == ("Tab one.", first.json["version"])


def test_the_conflict_page_does_not_save_as_one_types(site):
    """Shown again after another tab's save, the form holds this tab's stale copy: saved as
    the therapist starts to compare, it would replace the other tab's plan unseen."""
    plan_id = site.plan()
    page, fields = edit_form(site, plan_id)
    assert autosave(site.owner, site.autosave_url(plan_id), {**fields, "goals": "Tab one."})
    conflict = site.owner.post_form(site.edit_url(plan_id), {**fields, "goals": "Tab two."})
    assert conflict.status_code == 409
    shown = conflict.get_data(as_text=True)
    assert "Tab two." in shown  # the typed text is kept for comparing
    assert "data-autosave" not in shown and "js/autosave.js" not in shown
    assert 'class="autosave-status"' in page and 'class="autosave-status"' not in shown


def test_another_therapists_plan_is_a_404_and_stays_as_it_was(site):
    plan_id = site.plan()
    _, fields = edit_form(site, plan_id)
    before = stored(site, plan_id)
    changed = {**fields, "goals": "Not theirs."}
    # Under the plan's own couple, and under a couple the stranger does own.
    for couple_id in (site.couple_id, site.strangers_couple_id):
        response = autosave(site.stranger, site.autosave_url(plan_id, couple_id), changed)
        assert response.status_code == 404, couple_id
    assert stored(site, plan_id) == before


def test_a_field_that_needs_correcting_saves_nothing(site):
    plan_id = site.plan()
    _, fields = edit_form(site, plan_id)
    fields = {**fields, "goals": "Half typed.", "agenda-0-minutes": ""}
    response = autosave(site.owner, site.autosave_url(plan_id), fields)
    assert response.status_code == 422 and response.json["saved"] is False
    assert stored(site, plan_id)[0] == "First goals."


def test_the_autosave_needs_the_pages_csrf_token(site):
    plan_id = site.plan()
    _, fields = edit_form(site, plan_id)
    response = site.owner.post(
        site.autosave_url(plan_id),
        data={**fields, "goals": "Forged."},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert stored(site, plan_id)[0] == "First goals."


def test_a_new_plan_is_made_by_save_alone(site):
    page = site.owner.get(f"{site.prefix}/couples/{site.couple_id}/plans/new")
    assert "data-autosave" not in page.get_data(as_text=True)
