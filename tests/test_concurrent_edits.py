"""Two tabs on one appointment page: a second save of a check-in, the homework review or the
flag status is refused with what it held kept on screen, and the first save stays. A homework
note typed with its outcome not recorded is kept, and the message says what was saved."""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from appointment_support import Visit, balance_answers, csi_answers, seed_history
from conftest import add_couple, login
from counselor_app.extensions import db
from counselor_app.models import (
    Appointment,
    CheckIn,
    Flag,
    FlagStatus,
    FlagStatusRecord,
    HomeworkReview,
    Therapist,
)
from host_support import PREFIX, clinician, host, host_template, signed_in  # noqa: F401
from intake_support import seed_intake
from plan_support import new_plan
from vignettes import VIGNETTES

MONEY = next(v for v in VIGNETTES if v.name == "money_fights")
CONFLICT = "This was saved from another tab or device after you opened the page"


@dataclass(frozen=True)
class Appointments:
    """A couple with a confirmed flag, and two held appointments: the first used a plan with
    homework, reviewed at the second, whose page the tests open."""

    app: Flask
    client: Any
    base: str  # the second appointment's page
    appointment_id: int
    flag_id: int

    def page(self) -> str:
        response = self.client.get(self.base)
        assert response.status_code == 200
        return response.get_data(as_text=True)


def _build(app: Flask, client: Any, therapist_id: int, prefix: str) -> Appointments:
    couple_id = add_couple(app, therapist_id, ("Avery", "Blake"))
    seed_intake(app, couple_id, "A", intake=dict(MONEY.a))
    seed_intake(app, couple_id, "B", intake=dict(MONEY.b))
    with app.app_context():
        flag = db.session.scalar(select(Flag).where(Flag.challenge_key == "financial_tension"))
        flag.status = FlagStatus.CONFIRMED
        db.session.commit()
        flag_id = flag.id
    plan_id = new_plan(
        client, couple_id, prefix=prefix, **{"homework-0-text": "Walk together twice."}
    )
    first, second = seed_history(app, couple_id, [Visit(), Visit()])
    with app.app_context():
        db.session.get(Appointment, first).plan_id = plan_id
        db.session.commit()
    base = f"{prefix}/couples/{couple_id}/appointments/{second}"
    return Appointments(app, client, base, second, flag_id)


@pytest.fixture(params=("standalone", "mounted"))
def appointments(request: pytest.FixtureRequest, backend: str) -> Appointments:
    if request.param == "standalone":
        app = request.getfixturevalue("app")
        therapist = request.getfixturevalue("therapist")
        client = app.test_client()
        assert login(client, therapist).status_code == 302
        return _build(app, client, therapist.id, "")
    app = request.getfixturevalue("host")
    client = signed_in(app, request.getfixturevalue("clinician"))
    assert client.get(f"{PREFIX}/").status_code == 200  # our therapist row is made here
    with app.app_context():
        therapist_id = db.session.scalars(select(Therapist.id)).one()
    return _build(app, client, therapist_id, PREFIX)


def version(page: str, form: str, prefix: str = "") -> str:
    """The version that the page's form posting to ``.../<form>`` would be saved against."""
    start = re.search(rf'<form [^>]*action="[^"]*/{form}[#"]', page).start()
    form_html = page[start : page.index("</form>", start)]
    return re.search(rf'name="{prefix}version" type="hidden" value="(\d+)"', form_html).group(1)


def checked(page: str, name: str) -> str | None:
    """The value of the radio button ``name`` the page shows chosen."""
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag and "checked" in tag:
            return re.search(r'value="([^"]*)"', tag).group(1)
    return None


def check_in(csi: int, balance: int, version: str) -> dict[str, str]:
    answers = {**csi_answers(csi), **balance_answers(balance)}
    return {"checkin-a-version": version, **{f"checkin-a-{k}": str(v) for k, v in answers.items()}}


def stored(app: Flask) -> dict[str, Any]:
    with app.app_context():
        return {
            "check_in": {r.instrument_id: r.total for r in db.session.scalars(select(CheckIn))},
            "homework": [(r.outcome, r.note) for r in db.session.scalars(select(HomeworkReview))],
            "flags": [r.status.value for r in db.session.scalars(select(FlagStatusRecord))],
        }


def test_a_second_tab_cannot_overwrite_a_check_in_homework_review_or_flag_status(appointments):
    app, client, base = appointments.app, appointments.client, appointments.base
    flag = f"flag-{appointments.flag_id}"
    tab = appointments.page()  # opened in two tabs: both show the same versions

    # Partner A's check-in: the first tab's answers stay, the second's come back on screen.
    first_tab = check_in(12, 9, version(tab, "check-in/a", "checkin-a-"))
    assert client.post_form(f"{base}/check-in/a", first_tab).status_code == 302
    second_tab = check_in(5, 3, version(tab, "check-in/a", "checkin-a-"))
    refused = client.post_form(f"{base}/check-in/a", second_tab)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and CONFLICT in page
    assert checked(page, "checkin-a-csi_1") == second_tab["checkin-a-csi_1"]
    assert stored(app)["check_in"] == {"csi4": 12, "balance": 9}
    # Saving again from the conflict page is a deliberate choice, and it is made.
    again = client.post_form(
        f"{base}/check-in/a",
        {**second_tab, **{"checkin-a-version": version(page, "check-in/a", "checkin-a-")}},
    )
    assert again.status_code == 302
    assert stored(app)["check_in"] == {"csi4": 5, "balance": 3}

    # The homework review.
    saved = client.post_form(
        f"{base}/homework", {"outcome-0-A": "done", "version": version(tab, "homework")}
    )
    assert saved.status_code == 302
    refused = client.post_form(
        f"{base}/homework",
        {
            "outcome-0-A": "not_done",
            "note-0-A": "Rained all week",
            "version": version(tab, "homework"),
        },
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and CONFLICT in page
    assert checked(page, "outcome-0-A") == "not_done" and 'value="Rained all week"' in page
    assert [(o.value, n) for o, n in stored(app)["homework"]] == [("done", "")]

    # The flag status.
    saved = client.post_form(f"{base}/flags", {flag: "improving", "version": version(tab, "flags")})
    assert saved.status_code == 302
    refused = client.post_form(
        f"{base}/flags", {flag: "resolved", "version": version(tab, "flags")}
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and CONFLICT in page
    assert checked(page, flag) == "resolved"
    assert stored(app)["flags"] == ["improving"]

    # Each part has a version of its own: none of these saves made the details' page stale.
    details = {
        "starts_at": "2026-01-12T17:00",
        "duration_minutes": "50",
        "status": "completed",
        "attendance": "both",
        "plan_id": "0",
        "version": version(tab, "details"),
    }
    assert client.post_form(f"{base}/details", details).status_code == 302


def test_a_homework_note_without_an_outcome_is_kept_and_the_message_says_so(
    app, logged_in, therapist
):
    appointments = _build(app, logged_in, therapist.id, "")
    base = appointments.base
    response = logged_in.post_form(
        f"{base}/homework",
        {
            "outcome-0-A": "done",
            "note-0-B": "Did not get to it: talk about it next time",
            "version": version(appointments.page(), "homework"),
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Homework review saved: 1 outcome recorded and 1 note kept without an outcome." in page
    assert [(o and o.value, n) for o, n in stored(app)["homework"]] == [
        ("done", ""),
        (None, "Did not get to it: talk about it next time"),
    ]
    # Shown again as it was saved: the note, and its outcome still not recorded.
    assert 'value="Did not get to it: talk about it next time"' in page
    assert checked(page, "outcome-0-B") == ""
    # The note counts toward no completion rate.
    progress = logged_in.get(base.split("/appointments")[0] + "/progress").get_data(as_text=True)
    homework = progress[progress.index('id="homework-title"') :]
    assert re.search(r"Avery</th>\s*<td>100%", homework)
    assert not re.search(r"Blake</th>\s*<td>\d", homework)

    # Emptied, the note goes, and the message says what is left.
    response = logged_in.post_form(
        f"{base}/homework",
        {"outcome-0-A": "done", "note-0-B": "", "version": version(page, "homework")},
        follow_redirects=True,
    )
    assert "Homework review saved: 1 outcome recorded." in response.get_data(as_text=True)
    assert len(stored(app)["homework"]) == 1
