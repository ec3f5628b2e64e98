"""Partners answering by their own link: standalone and mounted in the reference host.

The journey and its headers; a partner's answers count exactly as a therapist's would; check-ins
between sessions and at an appointment; every link that no longer works looks the same; wrong
links are rate-limited per address; the token is stored, exported, audited and logged nowhere;
a partner's pages show nothing of the other partner's.
"""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import zipfile
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from appointment_support import csi_answers
from conftest import add_couple, login
from counselor_app import mail
from counselor_app.assessment.services import build_assessment, evaluate_couple
from counselor_app.audit.services import verify
from counselor_app.errors import RedactPartnerLinks
from counselor_app.extensions import db
from counselor_app.intake.services import responses_of_couple, steps
from counselor_app.invitations import services as invitation_services
from counselor_app.invitations.services import hash_token
from counselor_app.models import (
    AuditEvent,
    CheckIn,
    Couple,
    Invitation,
    InvitationState,
    Therapist,
)
from counselor_app.models.base import StaleEdit, utcnow
from host_support import (  # noqa: F401  (fixtures)
    PREFIX,
    clinician,
    host,
    host_template,
    signed_in,
)
from intake_support import (
    CSI_DISTRESSED,
    CSI_SATISFIED,
    enter_intake_via_web,
    seed_intake,
    step_url,
)
from partner_support import (
    BALANCE_MIDDLE,
    HIDDEN_CSRF,
    VERSION,
    PartnerBrowser,
    invite,
    path_of,
)
from vignettes import NEUTRAL, SAFE, VIGNETTES

NEUTRAL_PAGE = "This link cannot be opened"
CONFLICT = "These answers were changed in another window after you opened this page"


# ------------------------------------------------------------------------------ the setting
@dataclass(frozen=True)
class Setting:
    """One practice: the app, its therapist signed in, a couple of theirs, and our prefix."""

    app: Flask
    client: Any  # the couple's therapist, signed in (an admin of ours, too)
    therapist_id: int
    therapist_name: str
    couple_id: int
    prefix: str  # "" standalone, "/couples-therapy" mounted

    @property
    def mounted(self) -> bool:
        return bool(self.prefix)

    def couple_url(self, tail: str = "") -> str:
        return f"{self.prefix}/couples/{self.couple_id}{tail}"

    def invite(self, label: str, **kwargs: Any) -> str:
        return invite(self.client, self.couple_id, label, prefix=self.prefix, **kwargs)[1]

    def browser(self, **environ: str) -> PartnerBrowser:
        browser = PartnerBrowser(self.app, self.prefix)
        if environ:
            browser.client.environ_base.update(environ)
        return browser

    def page(self, tail: str = "") -> str:
        response = self.client.get(self.couple_url(tail))
        assert response.status_code == 200, (tail, response.status_code)
        return response.get_data(as_text=True)


def _standalone(request: pytest.FixtureRequest) -> Setting:
    app = request.getfixturevalue("app")
    therapist = request.getfixturevalue("make_therapist")("Dana Whitfield", admin=True)
    client = app.test_client()
    assert login(client, therapist).status_code == 302
    couple_id = add_couple(app, therapist.id, ("Avery", "Blake"))
    return Setting(app, client, therapist.id, therapist.name, couple_id, "")


def _mounted(request: pytest.FixtureRequest) -> Setting:
    app = request.getfixturevalue("host")
    staff = request.getfixturevalue("clinician")  # Ada, an admin of the host's, so of ours
    client = signed_in(app, staff)
    assert client.get(f"{PREFIX}/").status_code == 200  # our therapist row is made here
    with app.app_context():
        therapist = db.session.scalars(
            sa.select(Therapist).where(Therapist.email == staff.email)
        ).one()
        therapist_id, name = therapist.id, therapist.name
    couple_id = add_couple(app, therapist_id, ("Avery", "Blake"))
    return Setting(app, client, therapist_id, name, couple_id, PREFIX)


@pytest.fixture(params=("standalone", "mounted"))
def setting(request: pytest.FixtureRequest, backend: str) -> Setting:
    return _standalone(request) if request.param == "standalone" else _mounted(request)


@pytest.fixture
def standalone(request: pytest.FixtureRequest, backend: str) -> Setting:
    return _standalone(request)


# ------------------------------------------------------------------------------ helpers
def invitations(app: Flask) -> list[Invitation]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(Invitation).order_by(Invitation.id)))
        for invitation in found:
            db.session.expunge(invitation)
        return found


def invitation_of(app: Flask, token: str) -> Invitation:
    with app.app_context():
        invitation = db.session.scalars(
            sa.select(Invitation).where(Invitation.token_hash == hash_token(token))
        ).one()
        db.session.expunge(invitation)
        return invitation


def token_of(link: str) -> str:
    return path_of(link).rsplit("/", 1)[1]


def cookie_header(response: Any, name: str = "counselor_partner") -> str:
    [found] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    return found


def revoke(setting: Setting, invitation_id: int) -> Any:
    version = next(i.version for i in invitations(setting.app) if i.id == invitation_id)
    url = setting.couple_url(f"/invitations/{invitation_id}/revoke")
    response = setting.client.post_form(url, {"version": str(version)})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response


def reissue(setting: Setting, invitation_id: int) -> str:
    version = next(i.version for i in invitations(setting.app) if i.id == invitation_id)
    url = setting.couple_url(f"/invitations/{invitation_id}/reissue")
    response = setting.client.post_form(url, {"version": str(version), "valid_days": "7"})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    match = re.search(r'id="personal-link"[^>]*value="([^"]+)"', response.get_data(as_text=True))
    assert match
    return match.group(1)


def neutral(response: Any) -> str:
    """The page for a link that does not work: 404 and the one neutral text."""
    body = response.get_data(as_text=True)
    assert response.status_code == 404, (response.status_code, body[:1000])
    assert NEUTRAL_PAGE in body
    return body


def forged_link(setting: Setting) -> str:
    return f"http://localhost{setting.prefix}/answer/{secrets.token_urlsafe(32)}"


def answer_check_in(setting: Setting, label: str, csi: int, **kwargs: Any) -> str:
    """A partner answers a check-in by link; returns the link (used up by then)."""
    link = setting.invite(label, purpose="check_in", **kwargs)
    browser = setting.browser()
    assert browser.open(link).status_code == 200
    sent = browser.answer_check_in(csi=csi_answers(csi))
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    return link


# ------------------------------------------------------------------------------ 1. the journey
def test_a_partner_answers_the_intake_on_their_own_device(setting):
    link = setting.invite("A")
    token = token_of(link)
    assert path_of(link) == f"{setting.prefix}/answer/{token}"
    browser = setting.browser()

    first = browser.client.get(path_of(link))
    assert first.status_code == 303
    location = first.headers["Location"]
    assert token not in location and location.endswith(f"{setting.prefix}/answer/")
    cookie = cookie_header(first)
    assert "HttpOnly" in cookie and f"Path={setting.prefix}/answer;" in f"{cookie};"
    assert "SameSite=Lax" in cookie and token not in cookie
    assert first.headers["Referrer-Policy"] == "no-referrer"

    welcome = browser.get(location)
    assert welcome.status_code == 200
    assert "Hello, Avery" in browser.page and setting.therapist_name in browser.page
    assert welcome.headers["Cache-Control"] == "no-store"
    assert invitation_of(setting.app, token).state == InvitationState.OPENED

    sent = browser.answer_intake(csi=CSI_DISTRESSED)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/answer/done")
    done = browser.get(sent.headers["Location"])
    assert done.status_code == 200 and "Thank you" in browser.page
    assert "Max-Age=0" in cookie_header(done) or "expires=Thu, 01 Jan 1970" in cookie_header(done)
    neutral(browser.get(browser.url("/")))  # the session is over

    invitation = invitation_of(setting.app, token)
    assert invitation.state == InvitationState.COMPLETE
    assert invitation.opened_at and invitation.started_at and invitation.completed_at
    detail = setting.page()
    assert "badge-invitation-complete" in detail and "Complete</span>" in detail
    assert "✓ complete" in detail
    assert "answered by Avery on their own device" in detail
    with setting.app.app_context():
        couple = db.session.get(Couple, setting.couple_id)
        responses = responses_of_couple(couple)
        assert {r.status.value for r in responses["A"].values()} == {"complete"}
        assert responses["A"]["csi4"].answers == CSI_DISTRESSED and not responses["B"]


def test_partner_pages_let_in_the_partner_whose_link_it_is_and_nobody_else(setting):
    check_in_link = setting.invite("B", purpose="check_in")
    # No partner session: the neutral page, even for the signed-in therapist.
    neutral(setting.browser().get(f"{setting.prefix}/answer/"))
    neutral(setting.client.get(f"{setting.prefix}/answer/"))
    neutral(setting.client.get(f"{setting.prefix}/answer/check-in"))
    # A check-in link opens the check-in only, never the intake's pages.
    browser = setting.browser()
    assert browser.open(check_in_link).status_code == 200
    assert browser.get(browser.url("/intake")).status_code == 404
    assert browser.get(browser.url(f"/intake/{steps()[0].slug}")).status_code == 404
    # The partner's session opens no therapist page: its cookie is not even sent there.
    therapist_page = browser.get(setting.couple_url())
    assert therapist_page.status_code in (302, 403)
    assert "Avery" not in browser.page and "Blake" not in browser.page


# ------------------------------------------------------------------------------ 2. equivalence
EQUIVALENT = ("pursue_withdraw", "safety_positive", "boundary_strain", "extreme_opposites")


def outcome(app: Flask, couple_id: int) -> dict[str, Any]:
    """Everything the assessment makes of a couple's answers (and the answers themselves)."""
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        responses = responses_of_couple(couple)
        assessment = build_assessment(couple)
        alert = assessment.safety_alert
        return {
            "answers": {
                label: {i: dict(r.answers) for i, r in responses[label].items()} for label in "AB"
            },
            "status": {
                label: {i: r.status.value for i, r in responses[label].items()} for label in "AB"
            },
            "domain_scores": evaluate_couple(responses).scores,
            "comparisons": [asdict(c) for c in assessment.comparisons],
            "csi4": [asdict(p.csi4) if p.csi4 else None for p in assessment.partners],
            "complete": [p.intake_complete for p in assessment.partners],
            "flags": sorted(
                (
                    f.challenge_key,
                    f.severity.value,
                    f.partners,
                    f.status.value,
                    f.currently_suggested,
                    json.dumps(f.evidence, sort_keys=True),
                    json.dumps(f.hits, sort_keys=True),
                )
                for f in assessment.flags
            ),
            "notes": list(assessment.notes),
            "safety": None
            if alert is None
            else (alert.partners, alert.positive_items, alert.decision),
            "safety_evidence": list(assessment.safety_evidence),
            "safety_pending": list(assessment.safety_pending),
        }


def test_answers_by_link_count_exactly_as_answers_the_therapist_typed(standalone):
    setting = standalone
    for vignette in (v for v in VIGNETTES if v.name in EQUIVALENT):
        names = (f"{vignette.name[:10]} A", f"{vignette.name[:10]} B")
        by_link = add_couple(setting.app, setting.therapist_id, names)
        typed = add_couple(setting.app, setting.therapist_id, names)
        for label, answers, safety, csi in (
            ("A", vignette.a, vignette.safety_a, CSI_DISTRESSED),
            ("B", vignette.b, vignette.safety_b, CSI_SATISFIED),
        ):
            _, link = invite(setting.client, by_link, label, prefix=setting.prefix)
            browser = setting.browser()
            browser.open(link)
            sent = browser.answer_intake(dict(answers), csi, dict(safety))
            assert sent.status_code == 303, vignette.name
            enter_intake_via_web(setting.client, typed, label, dict(answers), csi, dict(safety))
        linked, entered = outcome(setting.app, by_link), outcome(setting.app, typed)
        assert linked == entered, vignette.name
        # And the outcome is the vignette's, so the two agree on something that matters.
        flags = {key: partners for key, _, partners, *_ in linked["flags"]}
        for key, partners in vignette.must_raise.items():
            assert key in flags, (vignette.name, key)
            if partners is not None:
                assert flags[key] == "".join(partners), (vignette.name, key)
        if vignette.safety_alert_for:
            assert linked["safety"][0] == "".join(vignette.safety_alert_for)
        else:
            assert linked["safety"] is None
        assert linked["csi4"][0]["total"] == 8 and linked["csi4"][1]["total"] == 16


# ------------------------------------------------------------------------------ 3. check-ins
def test_check_ins_by_link_between_sessions_and_at_an_appointment(setting):
    app = setting.app
    empty = setting.page("/progress")
    assert "(between sessions)" not in empty
    answer_check_in(setting, "A", 11)
    with app.app_context():
        rows = db.session.scalars(sa.select(CheckIn)).all()
        assert {(r.partner_label, r.appointment_id) for r in rows} == {("A", None)}
        assert len(rows) == 2 and all(r.answered_at and r.invitation_id for r in rows)
    progress = setting.page("/progress")
    assert "(the check-ins answered between sessions are below)" in progress
    assert "(between sessions)</td><td>11</td><td>—</td>" in progress

    # A check-in for a scheduled appointment joins that appointment.
    starts = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    details = {"starts_at": starts, "duration_minutes": "60", "plan_id": "0"}
    made = setting.client.post_form(
        setting.couple_url("/appointments"), {**details, "status": "scheduled"}
    )
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    appointment_id = int(made.headers["Location"].rsplit("/", 1)[1])
    answer_check_in(setting, "A", 13, appointment_id=appointment_id)
    answer_check_in(setting, "B", 9, appointment_id=appointment_id)
    with app.app_context():
        at = db.session.scalars(
            sa.select(CheckIn).where(CheckIn.appointment_id == appointment_id)
        ).all()
        assert {(r.partner_label, r.instrument_id) for r in at} == {
            (label, measure) for label in "AB" for measure in ("csi4", "balance")
        }
        assert {r.total for r in at if r.instrument_id == "csi4"} == {13, 9}

    # Held with Blake absent: Blake's own answers are kept, moved to between sessions.
    held = setting.client.post_form(
        setting.couple_url(f"/appointments/{appointment_id}/details"),
        {**details, "status": "completed", "attendance": "a", "version": "1"},
    )
    assert held.status_code == 302, held.get_data(as_text=True)[:2000]
    with app.app_context():
        rows = db.session.scalars(sa.select(CheckIn)).all()
        assert len(rows) == 6  # nothing deleted
        placed = {(r.partner_label, r.instrument_id, r.total): r.appointment_id for r in rows}
        assert placed[("A", "csi4", 13)] == appointment_id
        assert placed[("B", "csi4", 9)] is None
        assert placed[("A", "csi4", 11)] is None
    progress = setting.page("/progress")
    assert "(between sessions)</td><td>—</td><td>9</td>" in progress
    assert "(between sessions)</td><td>11</td><td>—</td>" in progress
    assert re.search(r"\d{4}</td><td>13</td><td>—</td>", progress), "the held appointment's row"


def test_a_check_in_for_an_appointment_stays_there_when_it_is_moved_and_is_retyped(setting):
    """Rescheduling a session keeps the partner's check-in on it (nobody is absent from a
    session yet to come); the therapist retyping it makes it the therapist's entry."""
    app = setting.app
    starts = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    details = {"starts_at": starts, "duration_minutes": "60", "plan_id": "0"}
    made = setting.client.post_form(
        setting.couple_url("/appointments"), {**details, "status": "scheduled"}
    )
    appointment_id = int(made.headers["Location"].rsplit("/", 1)[1])
    answer_check_in(setting, "A", 13, appointment_id=appointment_id)
    later = (utcnow() + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    moved = setting.client.post_form(
        setting.couple_url(f"/appointments/{appointment_id}/details"),
        {**details, "starts_at": later, "status": "scheduled", "version": "1"},
    )
    assert moved.status_code == 302, moved.get_data(as_text=True)[:2000]
    with app.app_context():
        rows = db.session.scalars(sa.select(CheckIn)).all()
        assert len(rows) == 2 and {r.appointment_id for r in rows} == {appointment_id}
    held = setting.client.post_form(
        setting.couple_url(f"/appointments/{appointment_id}/details"),
        {
            **details,
            "starts_at": later,
            "status": "completed",
            "attendance": "both",
            "version": "2",
        },
    )
    assert held.status_code == 302, held.get_data(as_text=True)[:2000]
    page = setting.page(f"/appointments/{appointment_id}")
    assert "Answered by Avery on their own device" in page
    retyped = {f"checkin-a-{item}": "4" for item in ("csi_1", "csi_2", "csi_3", "csi_4")}
    retyped |= {f"checkin-a-{key}": "3" for key in BALANCE_MIDDLE}
    # The partner's answers moved the check-in's version on: a page opened before them is stale.
    assert 'name="checkin-a-version" type="hidden" value="1"' in page
    retyped["checkin-a-version"] = "1"
    saved = setting.client.post_form(
        setting.couple_url(f"/appointments/{appointment_id}/check-in/a"), retyped
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:3000]
    assert "Answered by Avery on their own device" not in setting.page(
        f"/appointments/{appointment_id}"
    )
    with app.app_context():
        assert all(not r.by_partner for r in db.session.scalars(sa.select(CheckIn)))


def test_saved_safety_answers_are_never_shown_again_on_the_partners_pages(setting):
    """Whoever holds the link next (a shared phone, a read mailbox) may be the person the
    safety questions are about: saved answers stay saved but out of sight, and an empty save
    clears nothing."""
    link = setting.invite("A")
    browser = setting.browser()
    browser.open(link)
    safety = {**SAFE, "saf_fear": "yes", "saf_notes": "ZQXPRIVATE"}
    assert browser.answer_page("safety", safety).status_code == 303
    page = browser.get(browser.url("/intake/safety")).get_data(as_text=True)
    assert "ZQXPRIVATE" not in page and " checked" not in page
    assert "For your privacy they are not shown again" in page
    assert browser.answer_page("safety", {}).status_code == 303  # nothing chosen: kept
    with setting.app.app_context():
        answers = responses_of_couple(db.session.get(Couple, setting.couple_id))["A"]["safety"]
        assert answers.answers["saf_fear"] == "yes" and answers.answers["saf_notes"] == "ZQXPRIVATE"
    assert browser.answer_page("safety", {"saf_fear": "no"}).status_code == 303  # changed
    with setting.app.app_context():
        answers = responses_of_couple(db.session.get(Couple, setting.couple_id))["A"]["safety"]
        assert answers.answers["saf_fear"] == "no" and answers.answers["saf_notes"] == "ZQXPRIVATE"
    # Other pages show the partner's own saved answers back, to check and change.
    browser.answer_page("background", {"bg_stage": "married"})
    assert " checked" in browser.get(browser.url("/intake/background")).get_data(as_text=True)


def test_the_therapist_can_revoke_a_link_the_partner_is_using(setting):
    """A partner opening and saving is no edit of the therapist's: the Revoke button on a page
    loaded before still works (it must: the wrong person may have the link)."""
    link = setting.invite("A")
    couple_page = setting.page()  # the therapist's page, with the Revoke form's version
    version = re.search(r'name="version" value="(\d+)"', couple_page).group(1)
    browser = setting.browser()
    browser.open(link)
    browser.answer_page("background", {"bg_stage": "married"})
    [invitation] = invitations(setting.app)
    response = setting.client.post_form(
        setting.couple_url(f"/invitations/{invitation.id}/revoke"), {"version": version}
    )
    assert response.status_code == 302
    assert "no longer works" in setting.page()
    neutral(browser.get(browser.url("/")))
    with setting.app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.object_type == "invitation")
        ).all()
    assert actions.count("revoke") == 1
    # Revoking again changes nothing, and the trail does not say it did.
    again = setting.client.post_form(
        setting.couple_url(f"/invitations/{invitation.id}/revoke"),
        {"version": str(invitations(setting.app)[0].version)},
    )
    assert again.status_code == 302 and "stopped working already" in setting.page()
    with setting.app.app_context():
        assert db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.action == "revoke")
        ).all() == ["revoke"]


def test_a_closed_file_or_a_deactivated_therapist_stops_the_links(setting):
    link = setting.invite("A")
    browser = setting.browser()
    assert browser.open(link).status_code == 200
    closed = setting.client.post_form(setting.couple_url("/close"))
    assert closed.status_code == 302
    neutral(browser.get(browser.url("/")))
    neutral(setting.browser().get(path_of(link)))
    setting.client.post_form(setting.couple_url("/reopen"))
    assert setting.browser().open(link).status_code == 200
    with setting.app.app_context():
        db.session.get(Therapist, setting.therapist_id).active = False
        db.session.commit()
    neutral(setting.browser().get(path_of(link)))


# ------------------------------------------------------------------------------ 4. neutral page
def test_every_link_that_no_longer_works_gets_the_same_neutral_page(setting):
    app = setting.app
    expired_link = setting.invite("A", purpose="check_in")
    revoked_link = setting.invite("B", purpose="check_in")
    used_link = answer_check_in(setting, "A", 12)
    with app.app_context():
        expired = db.session.get(Invitation, invitation_of(app, token_of(expired_link)).id)
        expired.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    # Revoked while the partner has the check-in open: the next click closes it.
    open_browser = setting.browser()
    assert open_browser.open(revoked_link).status_code == 200
    assert open_browser.get(open_browser.url("/check-in")).status_code == 200
    answers = {key: str(value) for key, value in {**CSI_SATISFIED, **BALANCE_MIDDLE}.items()}
    revoked = invitation_of(app, token_of(revoked_link))
    revoke(setting, revoked.id)
    assert invitation_of(app, token_of(revoked_link)).state == InvitationState.REVOKED
    assert "badge-invitation-revoked" in setting.page()

    bodies = {
        "expired": neutral(setting.browser().get(path_of(expired_link))),
        "revoked": neutral(setting.browser().get(path_of(revoked_link))),
        "used": neutral(setting.browser().get(path_of(used_link))),
        "forged": neutral(setting.browser().get(path_of(forged_link(setting)))),
        "session closed": neutral(open_browser.post(open_browser.url("/check-in"), answers)),
        "session closed, next page": neutral(open_browser.get(open_browser.url("/"))),
    }
    assert len(set(bodies.values())) == 1, {k: v[:300] for k, v in bodies.items()}
    # The neutral page never sets a partner session; the revoked partner's answers went nowhere.
    assert not setting.browser().get(path_of(revoked_link)).headers.getlist("Set-Cookie")
    with app.app_context():
        assert not db.session.scalars(sa.select(CheckIn).where(CheckIn.partner_label == "B")).all()


def test_a_new_link_stops_the_old_one_and_keeps_the_answers_saved(setting):
    app = setting.app
    old_link = setting.invite("B")
    browser = setting.browser()
    browser.open(old_link)
    first = steps()[0]
    goals = "ZQXGOALS saved before the new link"
    saved = browser.answer_page(first.slug, {**_page_values(first), "bg_goals": goals})
    assert saved.status_code == 303
    invitation_id = invitation_of(app, token_of(old_link)).id

    new_link = reissue(setting, invitation_id)
    assert token_of(new_link) != token_of(old_link)
    reissued = invitation_of(app, token_of(new_link))
    assert reissued.id == invitation_id and reissued.state == InvitationState.IN_PROGRESS
    forged = neutral(setting.browser().get(path_of(forged_link(setting))))
    assert neutral(setting.browser().get(path_of(old_link))) == forged
    assert neutral(browser.get(browser.url(f"/intake/{first.slug}"))) == forged  # old session

    fresh = setting.browser()
    assert fresh.open(new_link).status_code == 200 and "Carry on" in fresh.page
    fresh.get(fresh.url(f"/intake/{first.slug}"))
    assert goals in fresh.page


def _page_values(step: Any) -> dict[str, Any]:
    answers = {**NEUTRAL, **CSI_SATISFIED, **SAFE}
    return {i.id: answers[i.id] for i in step.section.items if i.id in answers}


# ------------------------------------------------------------------------------ 5. rate limit
def rate_limit_counts(app: Flask) -> int:
    with app.app_context():
        table = sa.table("counselor_rate_limit", sa.column("count"))
        return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(table.c.count), 0)))


def test_wrong_links_from_one_address_are_limited_and_the_right_one_never_is(setting):
    app = setting.app
    link = setting.invite("A")
    for _ in range(12):  # a partner reopening their link is never held up by it
        assert setting.browser().get(path_of(link)).status_code == 303
    assert rate_limit_counts(app) == 0
    guesser = setting.browser()
    for _ in range(10):
        neutral(guesser.get(path_of(forged_link(setting))))
    assert rate_limit_counts(app) == 10
    limited = guesser.get(path_of(forged_link(setting)))
    assert limited.status_code == 429 and NEUTRAL_PAGE not in limited.get_data(as_text=True)
    assert "Too many attempts" in limited.get_data(as_text=True)
    # A partner on the same address (the practice's Wi-Fi) still gets in with a working link.
    assert guesser.get(path_of(link)).status_code == 303
    # Another address is counted on its own.
    elsewhere = setting.browser(REMOTE_ADDR="198.51.100.23")
    neutral(elsewhere.get(path_of(forged_link(setting))))
    assert elsewhere.get(path_of(link)).status_code == 303


# ------------------------------------------------------------------------------ 6. no token in the DB
def test_the_database_holds_only_a_hash_of_each_link(setting, monkeypatch):
    app = setting.app
    app.config.update(COUNSELOR_MAIL_SERVER="mail.test", COUNSELOR_MAIL_SENDER="p@example.org")
    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send", lambda *message: sent.append(message))
    with app.app_context():
        couple = db.session.get(Couple, setting.couple_id)
        couple.partners[0].email = "avery@example.org"
        db.session.commit()

    delivery, intake_link = invite(setting.client, setting.couple_id, "A", prefix=setting.prefix)
    token = token_of(intake_link)
    invitation_id = invitation_of(app, token).id
    csrf = HIDDEN_CSRF.search(delivery.get_data(as_text=True))
    assert csrf
    for action in ("slip.pdf", "email"):
        response = setting.client.post(
            setting.couple_url(f"/invitations/{invitation_id}/{action}"),
            data={"csrf_token": csrf.group(1), "token": token},
        )
        assert response.status_code == 200, (action, response.get_data(as_text=True)[:1000])
    assert sent and token in sent[0][2]
    browser = setting.browser()
    browser.open(intake_link)
    browser.answer_page(steps()[0].slug, _page_values(steps()[0]))
    replaced = token_of(setting.invite("B", purpose="check_in"))
    current = token_of(reissue(setting, invitation_of(app, replaced).id))
    used = token_of(answer_check_in(setting, "B", 10))
    missed = secrets.token_urlsafe(32)
    neutral(setting.browser().get(f"{setting.prefix}/answer/{missed}"))
    tokens = [token, replaced, current, used, missed]

    hashes = {i.token_hash for i in invitations(app)}
    assert hashes == {hash_token(t) for t in (token, current, used)}
    with app.app_context():
        engine = db.engine
        metadata = sa.MetaData()
        metadata.reflect(bind=engine)
        scanned = 0
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(sa.select(table)):
                    for value in row:
                        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                        scanned += 1
                        for secret in tokens:
                            assert secret not in text, (table.name, text[:200])
        assert "counselor_invitation" in metadata.tables and scanned > 100
        engine.dispose()
        if engine.dialect.name == "sqlite":
            path = Path(engine.url.database)
            files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
            raw = b"".join(p.read_bytes() for p in files)
            assert hash_token(token).encode() in raw
            for secret in tokens:
                assert secret.encode() not in raw


# ------------------------------------------------------------------------------ 7. refusals
def test_an_intake_already_complete_is_not_asked_for_again(setting):
    seed_intake(setting.app, setting.couple_id, "A")
    refused = setting.client.post_form(
        setting.couple_url("/invitations/new"),
        {"partner": "A", "purpose": "intake", "appointment_id": "0", "valid_days": "7"},
    )
    assert refused.status_code == 422
    assert "intake is already complete: there is nothing left to answer" in refused.get_data(
        as_text=True
    ).replace("&#39;", "'")
    assert invitations(setting.app) == []
    # A check-in for the same partner is fine.
    assert setting.invite("A", purpose="check_in")


def test_a_partner_cannot_change_answers_once_the_intake_is_complete(setting):
    app = setting.app
    seed_intake(app, setting.couple_id, "B", complete=False)  # every answer, not sent yet
    link = setting.invite("B")
    browser = setting.browser()
    browser.open(link)
    closing = next(s for s in steps() if s.slug == "closing")
    browser.get(browser.url("/intake/closing"))
    version = VERSION.search(browser.page)
    assert version
    # The therapist completes B's intake meanwhile, from their own pages.
    done = setting.client.post_form(step_url(setting.couple_id, "B", "review", setting.prefix))
    assert done.status_code == 302
    late = browser.post(
        browser.url(f"/intake/{closing.slug}"),
        {"end_anything_else": "ZQXLATE", "version": version.group(1), "action": "next"},
    )
    assert late.status_code == 409
    assert "These answers have been sent to your therapist already." in browser.page
    with app.app_context():
        responses = responses_of_couple(db.session.get(Couple, setting.couple_id))
        assert "ZQXLATE" not in json.dumps(responses["B"]["intake"].answers)
        assert not responses["B"]["intake"].changes


def test_after_sending_the_same_session_saves_nothing(setting):
    app = setting.app
    link = setting.invite("A")
    browser = setting.browser()
    browser.open(link)
    browser.answer_intake(send=False)
    browser.get(browser.url("/intake/closing"))
    page_before = browser.page
    browser.get(browser.url("/intake/finish"))
    assert browser.post(browser.url("/intake/finish"), {}).status_code == 303
    browser.page = page_before
    version = VERSION.search(page_before).group(1)
    late = browser.post(
        browser.url("/intake/closing"),
        {"end_anything_else": "ZQXAFTERSEND", "version": version, "action": "next"},
    )
    neutral(late)
    neutral(browser.get(path_of(link)))
    with app.app_context():
        responses = responses_of_couple(db.session.get(Couple, setting.couple_id))
        assert "ZQXAFTERSEND" not in json.dumps(responses["A"]["intake"].answers)


@pytest.mark.parametrize("purpose", ["intake", "check_in"])
def test_a_send_that_loses_the_race_to_another_shows_what_the_winner_saw(
    standalone, monkeypatch, purpose
):
    """Two Sends at once (a double tap, a second tab): the later one's flush finds the
    invitation changed. Its partner sees the thank-you page, not an error, when the other one
    sent the answers; and the neutral page when something else changed the link."""
    setting = standalone
    service = "complete_intake" if purpose == "intake" else "record_check_in"
    real = getattr(invitation_services, service)

    def other_send_first(invitation, *args):
        real(invitation, *args)
        db.session.commit()  # the winner's request committed first
        raise StaleEdit

    def link_changed(invitation, *args):
        raise StaleEdit

    for stand_in, expected in ((other_send_first, "done"), (link_changed, "neutral")):
        link = setting.invite("A" if expected == "done" else "B", purpose=purpose)
        browser = setting.browser()
        browser.open(link)
        if purpose == "intake":
            browser.answer_intake(send=False)
            browser.get(browser.url("/intake/finish"))
        monkeypatch.setattr(invitation_services, service, stand_in)
        if purpose == "intake":
            sent = browser.post(browser.url("/intake/finish"), {})
        else:
            sent = browser.answer_check_in()
        monkeypatch.undo()
        if expected == "done":
            assert sent.status_code == 303 and sent.location.endswith("/answer/done"), sent.status
        else:
            neutral(sent)


def test_two_tabs_the_later_save_is_refused_and_keeps_what_was_typed(setting):
    link = setting.invite("A")
    tab_one = setting.browser()
    tab_one.open(link)
    tab_two = tab_one.tab()
    tab_one.get(tab_one.url("/intake/closing"))
    stale = VERSION.search(tab_one.page).group(1)
    first_page = tab_one.page
    assert tab_two.answer_page("closing", {"end_anything_else": "ZQXTABTWO"}).status_code == 303
    tab_one.page = first_page
    typed = "ZQXTABONE typed & kept"
    conflict = tab_one.post(
        tab_one.url("/intake/closing"),
        {"end_anything_else": typed, "version": stale, "action": "next"},
    )
    assert conflict.status_code == 409
    assert CONFLICT in tab_one.page and "ZQXTABONE typed &amp; kept" in tab_one.page
    fresh = VERSION.search(tab_one.page).group(1)
    assert fresh != stale
    with setting.app.app_context():
        responses = responses_of_couple(db.session.get(Couple, setting.couple_id))
        assert responses["A"]["intake"].answers["end_anything_else"] == "ZQXTABTWO"
    # Saved again from the page shown, it goes through.
    again = tab_one.post(
        tab_one.url("/intake/closing"),
        {"end_anything_else": typed, "version": fresh, "action": "next"},
    )
    assert again.status_code == 303


# ------------------------------------------------------------------------------ 8. audit trail
def audit_rows(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def test_the_audit_trail_records_partners_and_therapists_by_id_only(setting):
    app = setting.app
    link = setting.invite("A")
    token = token_of(link)
    invitation_id = invitation_of(app, token).id
    browser = setting.browser()
    browser.open(link)
    browser.answer_page(steps()[0].slug, _page_values(steps()[0]))
    second = token_of(reissue(setting, invitation_id))
    browser = setting.browser()
    browser.open(f"{setting.prefix}/answer/{second}")
    browser.answer_intake()
    check_in = setting.invite("B", purpose="check_in")
    revoke(setting, invitation_of(app, token_of(check_in)).id)

    rows = audit_rows(app)
    partner = [r for r in rows if r.action.startswith("partner_")]
    assert {r.action for r in partner} == {
        "partner_open",
        "partner_view",
        "partner_save",
        "partner_complete",
    }
    for row in partner:
        assert (row.object_type, row.object_id) == ("invitation", invitation_id)
        assert row.therapist_id is None and row.couple_id == setting.couple_id
    assert [r.endpoint for r in partner if r.action == "partner_open"] == ["partner_link"] * 2
    assert sum(r.action == "partner_complete" for r in partner) == 1
    therapist = {
        (r.action, r.endpoint, r.object_type, r.object_id)
        for r in rows
        if r.therapist_id == setting.therapist_id
    }
    revoked_id = invitation_of(app, token_of(check_in)).id
    # Made from the couple's page: the couple is the record the therapist acted on.
    made = ("create", "couple.invitations.create", "couple", setting.couple_id)
    assert made in therapist
    assert ("reissue", "couple.invitations.reissue", "invitation", invitation_id) in therapist
    assert ("revoke", "couple.invitations.revoke", "invitation", revoked_id) in therapist
    creates = [
        r for r in rows if r.endpoint == "couple.invitations.create" and r.action == "create"
    ]
    assert len(creates) == 2 and all(r.couple_id == setting.couple_id for r in creates)
    secrets_ = (token, second, token_of(check_in))
    for row in rows:
        text = repr([getattr(row, c.key) for c in AuditEvent.__table__.columns])
        assert not any(s in text for s in secrets_), text
        assert not any(hash_token(s) in text for s in secrets_), text
    with app.app_context():
        assert verify().ok


# ------------------------------------------------------------------------------ 9. export, erase
def test_the_export_lists_links_without_tokens_and_erase_removes_them(setting):
    app = setting.app
    used = answer_check_in(setting, "A", 14)
    waiting = setting.invite("B")
    tokens = [token_of(used), token_of(waiting)]
    archive = setting.client.get(setting.couple_url("/export.zip"))
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.data)) as opened:
        text = opened.read("couple.json").decode("utf-8")
    record = json.loads(text)
    listed = record["invitations"]
    assert [(i["partner"], i["purpose"], i["state"]) for i in listed] == [
        ("A", "check_in", "complete"),
        ("B", "intake", "sent"),
    ]
    assert all(not any("token" in key or "hash" in key for key in i) for i in listed)
    for secret in tokens:
        assert secret not in text and hash_token(secret) not in text
    between = record["check_ins_between_sessions"]
    assert {(c["partner"], c["instrument"]) for c in between} == {
        ("A", "csi4"),
        ("A", "balance"),
    }
    assert next(c["total"] for c in between if c["instrument"] == "csi4") == 14
    assert all(c["answered_by_partner"] and c["answered_at"] for c in between)

    erase = setting.client.post_form(
        setting.couple_url("/erase"), {"confirm_name": "Avery & Blake"}
    )
    assert erase.status_code == 302, erase.get_data(as_text=True)[:2000]
    assert invitations(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckIn)) == 0
    neutral(setting.browser().get(path_of(waiting)))


# ------------------------------------------------------------------------------ 10. logs
def test_no_log_line_holds_a_link(setting, caplog, monkeypatch):
    app = setting.app
    caplog.set_level(logging.DEBUG)
    link = setting.invite("A", purpose="check_in")
    token = token_of(link)
    browser = setting.browser()
    browser.open(link)
    browser.answer_check_in()
    neutral(browser.get(path_of(link)))
    for _ in range(11):
        setting.browser(REMOTE_ADDR="192.0.2.9").get(path_of(forged_link(setting)))
    # A failure while opening a link is logged with the route's pattern, not its path.
    failing = setting.invite("B", purpose="check_in")
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def broken(invitation: Invitation) -> None:
        raise RuntimeError(f"failed at {failing}")

    monkeypatch.setattr(invitation_services, "mark_opened", broken)
    assert setting.browser().get(path_of(failing)).status_code == 500
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("/answer/<token>" in r.getMessage() for r in logged), [
        r.getMessage() for r in logged
    ]
    lines = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    for line in [*lines, caplog.text]:
        assert token not in line and token_of(failing) not in line

    # What an access log would print: the filter takes the token out of it.
    caplog.clear()
    werkzeug = logging.getLogger("werkzeug")
    assert any(isinstance(f, RedactPartnerLinks) for f in werkzeug.filters)
    werkzeug.info(
        '%s - - [%s] "%s" %s -',
        "127.0.0.1",
        "29/Nov/2026 10:00:00",
        f"GET /answer/{token} HTTP/1.1",
        303,
    )
    werkzeug.info("GET %s/answer/%s?x=1 HTTP/1.1", setting.prefix, token)
    messages = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len(messages) == 2
    assert all(token not in m and "/answer/[personal-link]" in m for m in messages)
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, f"GET /answer/{token} HTTP/1.1", None, None
    )
    assert RedactPartnerLinks().filter(record)
    assert record.getMessage() == "GET /answer/[personal-link] HTTP/1.1"


# ------------------------------------------------------------------------------ 11. what a partner sees
def test_partner_pages_show_the_practice_lines_and_nothing_of_the_other_partner(setting):
    app = setting.app
    admin_page = setting.client.get(f"{setting.prefix}/admin/practice")
    assert admin_page.status_code == 200
    version = VERSION.search(admin_page.get_data(as_text=True)).group(1)
    crisis = "Call 999, or the ZQX Crisis Line on 0800 000 111"
    contact = "Ring ZQX Practice on 020 7946 0000"
    saved = setting.client.post_form(
        f"{setting.prefix}/admin/practice",
        {
            "name": "Harbour Couples Practice",
            "contact_line": contact,
            "crisis_line": crisis,
            "paper_size": "a4",
            "version": version,
        },
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    # Blake answered first: distinctive words, a safety disclosure, flags and scores.
    other = "ZQXBLAKEPRIVATE"
    identity = next(v for v in VIGNETTES if v.name == "identity_one_partner")
    seed_intake(
        app,
        setting.couple_id,
        "B",
        intake={**identity.a, "end_anything_else": other, "pres_notes": other},
        csi=CSI_DISTRESSED,
        safety={**SAFE, "saf_fear": "yes", "saf_notes": other},
    )
    answer_check_in(setting, "B", 3)
    with app.app_context():
        assert build_assessment(db.session.get(Couple, setting.couple_id)).flags

    browser = setting.browser()
    browser.open(setting.invite("A"))
    safety_page = ""
    for step in steps():
        browser.get(browser.url(f"/intake/{step.slug}"))
        if step.slug == "safety":
            safety_page = browser.page
    browser.get(browser.url("/intake/finish"))
    browser.answer_intake()
    browser.get(browser.url("/done"))
    check_in = setting.browser()
    check_in.open(setting.invite("A", purpose="check_in"))
    check_in.get(check_in.url("/check-in"))

    assert f"<strong>If you are in danger now:</strong> {crisis}" in safety_page
    assert f"To reach the practice: {contact}" in safety_page
    assert f"Only {setting.therapist_name} will read your answers" in safety_page
    assert "never shared with your partner" in safety_page
    pages = browser.seen + check_in.seen
    assert len(pages) > 30
    for page in pages:
        lowered = page.lower()
        assert other.lower() not in lowered
        for word in ("flag", "score", "distress", "safety alert", "blake"):
            assert word not in lowered, (word, page[:300])
