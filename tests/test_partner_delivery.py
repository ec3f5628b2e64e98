"""Handing a partner their link: the emailed message, the printed slip, the practice's contact
and crisis lines on the partner's own pages, and the migration that brought them.

Whatever leaves the practice (a message in a mailbox, a slip on a kitchen table) holds the
link, the partner's own name and the practice's: nothing of the clinical record.
"""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import html
import itertools
import re
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import inspect, text

from conftest import base_config, login
from counselor_app import create_app
from counselor_app.admin.services import PracticeDetails, update_practice
from counselor_app.extensions import db
from counselor_app.models import Invitation, PaperSize
from counselor_app.plans.services import practice
from counselor_app.schema import current, downgrade, upgrade
from host_support import (  # noqa: F401  (fixtures)
    PREFIX,
    clinician,
    host,
    host_template,
    signed_in,
)
from partner_support import PartnerBrowser, invite
from plan_support import clinical_leaks, pdf_text

PRACTICE = "Harbour Lane Counselling"
CONTACT = "Call the front desk on 555-0142, weekdays 9 to 5"
CRISIS = "Call 911, or the Harbour crisis line on 555-0199 at any hour"
DEFAULT_CRISIS = "local emergency number"
# Unique words typed into the couple's record: none may reach a partner's mailbox or slip.
CONCERNS = "ZQXDELIVERYCONCERNS about money and the in-laws"
CONCERNS_MARKER = "ZQXDELIVERYCONCERNS"
PARTNER_A, PARTNER_B = "Avery", "Blakemore"
EMAIL_A = "avery@example.net"
SENDER = f"{PRACTICE} <practice@example.org>"
# Words about what the partner is asked that a mailbox or a slip never shows.
SENSITIVE_WORDS = ("intake", "safety", "score", "flag", "concern", "violence", "abuse")

FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
INPUT = re.compile(r"<input[^>]*>")
NAME = re.compile(r'name="([^"]+)"')
VALUE = re.compile(r'value="([^"]*)"')


# ------------------------------------------------------------------------------ helpers
def page_forms(page: str) -> dict[str, dict[str, str]]:
    """Each form on the page by its action: its hidden inputs, as the browser sends them."""
    forms: dict[str, dict[str, str]] = {}
    for action, body in FORM.findall(page):
        fields: dict[str, str] = {}
        for tag in INPUT.findall(body):
            name, value = NAME.search(tag), VALUE.search(tag)
            if name and 'type="hidden"' in tag:
                fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
        forms[html.unescape(action)] = fields
    return forms


def form_ending(page: str, tail: str) -> tuple[str, dict[str, str]]:
    """The one form on the page whose action ends with ``tail`` ("/email", "/slip.pdf")."""
    found = [(action, data) for action, data in page_forms(page).items() if action.endswith(tail)]
    assert len(found) == 1, (tail, list(page_forms(page)))
    return found[0]


def has_form(page: str, tail: str) -> bool:
    return any(action.endswith(tail) for action in page_forms(page))


def without_link(text_: str, link: str) -> str:
    """The text without the link, even wrapped over lines (its random token may spell
    anything), whitespace folded."""
    anywhere = r"\s*".join(re.escape(character) for character in link)
    rest = re.sub(anywhere, " ", text_)
    assert rest != text_, "the link is not in the text"
    return " ".join(rest.split())


def leaks(text_: str, link: str) -> list[str]:
    """Clinical words, the couple's concerns or the other partner's name in a partner's text."""
    rest = without_link(text_, link)
    found = clinical_leaks(rest, markers=(CONCERNS_MARKER, PARTNER_B))
    found += [word for word in SENSITIVE_WORDS if word in rest.lower()]
    return found + re.findall(r"\b\d+ ?/ ?\d+\b", rest)


def set_practice(app: Flask, *, name: str = PRACTICE, contact: str = CONTACT, crisis: str = ""):
    with app.app_context():
        update_practice(
            practice(),
            PracticeDetails(name, PaperSize.A4, contact_line=contact, crisis_line=crisis),
            expected_version=practice().version,
        )
        db.session.commit()


def invitation_row(app: Flask, invitation_id: int) -> Invitation:
    with app.app_context():
        invitation = db.session.get(Invitation, invitation_id)
        db.session.expunge(invitation)
        return invitation


def invitation_id_of(action: str) -> int:
    match = re.search(r"/invitations/(\d+)/", action)
    assert match, action
    return int(match.group(1))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------------ fixtures
@dataclass
class Site:
    """The app as the therapist uses it: standalone, or mounted in the reference host."""

    app: Flask
    client: Any
    prefix: str

    def add_couple(self, email_a: str = EMAIL_A) -> int:
        response = self.client.post_form(
            f"{self.prefix}/couples/new",
            {
                "partner_a-display_name": PARTNER_A,
                "partner_a-pronouns": "they/them",
                "partner_a-email": email_a,
                "partner_b-display_name": PARTNER_B,
                "partner_b-pronouns": "she/her",
                "partner_b-email": "blakemore@example.net",
                "relationship_stage": "married",
                "length_years": "4",
                "length_months": "2",
                "presenting_concerns": CONCERNS,
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def invite(self, couple_id: int, label: str = "A") -> tuple[str, str]:
        """The delivery page (its HTML) and the link it shows."""
        response, link = invite(self.client, couple_id, label, prefix=self.prefix)
        return response.get_data(as_text=True), link

    def post(self, action: str, data: dict[str, str]) -> Any:
        return self.client.post(action, data=data)

    def detail(self, couple_id: int) -> str:
        response = self.client.get(f"{self.prefix}/couples/{couple_id}")
        assert response.status_code == 200
        return response.get_data(as_text=True)


@pytest.fixture(params=["standalone", "mounted"])
def site(request, backend) -> Site:
    """``backend`` is named so each test runs on every backend (the app fixtures need it)."""
    if request.param == "standalone":
        app = request.getfixturevalue("app")
        therapist = request.getfixturevalue("make_therapist")("Dana Whitfield")
        client = app.test_client()
        assert login(client, therapist).status_code == 302
        return Site(app, client, "")
    app = request.getfixturevalue("host")
    return Site(app, signed_in(app, request.getfixturevalue("clinician")), PREFIX)


class Mailbox:
    """What the local SMTP server was handed, message by message."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(e.content, policy=default_policy) for e in self.envelopes]


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox


class RefusingMailbox(Mailbox):
    """A server that answers, then turns the recipient away."""

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        return "550 5.1.1 No such mailbox here"


@contextmanager
def running(mailbox: Mailbox) -> Iterator[SmtpServer]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running(Mailbox()) as server:
        yield server


def configure_mail(app: Flask, port: int) -> None:
    app.config.update(
        COUNSELOR_MAIL_SERVER="127.0.0.1",
        COUNSELOR_MAIL_PORT=port,
        COUNSELOR_MAIL_SENDER=SENDER,
    )


# ------------------------------------------------------------------------------ email
def test_the_link_is_emailed_to_the_partner_with_nothing_clinical(site, smtp_server):
    configure_mail(site.app, smtp_server.port)
    set_practice(site.app)
    couple_id = site.add_couple()
    page, link = site.invite(couple_id, "A")
    assert f"Email it to {EMAIL_A}" in page
    action, data = form_ending(page, "/email")
    assert set(data) == {"csrf_token", "token"}

    response = site.post(action, data)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert f"Sent to {EMAIL_A}." in response.get_data(as_text=True)

    [envelope] = smtp_server.mailbox.envelopes
    assert envelope.rcpt_tos == [EMAIL_A]
    [message] = smtp_server.mailbox.messages()
    assert message["To"] == EMAIL_A
    assert message["From"] == SENDER
    assert PRACTICE in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert link in body
    assert link.startswith("http") and "/answer/" in link
    assert PRACTICE in body
    whole = f"{message['Subject']}\n{body}"
    assert leaks(whole, link) == []

    invitation = invitation_row(site.app, invitation_id_of(action))
    assert invitation.emailed_at is not None
    assert ", emailed " in site.detail(couple_id)
    # The emailed link works for the partner.
    browser = PartnerBrowser(site.app, site.prefix)
    assert browser.open(link).status_code == 200
    assert f"Hello, {PARTNER_A}" in browser.page


@pytest.mark.parametrize("refusal", ["nothing-listens", "recipient-refused"])
def test_a_refusing_mail_server_says_so_and_marks_nothing(site, smtp_server, refusal):
    configure_mail(site.app, smtp_server.port)
    couple_id = site.add_couple()
    page, link = site.invite(couple_id, "A")
    action, data = form_ending(page, "/email")

    with ExitStack() as stack:
        if refusal == "nothing-listens":
            configure_mail(site.app, free_port())
        else:
            refusing = stack.enter_context(running(RefusingMailbox()))
            configure_mail(site.app, refusing.port)
        refused = site.post(action, data)
        if refusal == "recipient-refused":
            assert refusing.mailbox.envelopes == []
    assert refused.status_code == 502
    shown = html.unescape(refused.get_data(as_text=True))
    assert "The mail server did not take the message: nothing was sent." in shown
    assert link in shown  # the link is still there, to copy or print instead
    assert invitation_row(site.app, invitation_id_of(action)).emailed_at is None
    assert ", emailed " not in site.detail(couple_id)

    # The page's own form tries again once the server answers.
    configure_mail(site.app, smtp_server.port)
    again_action, again_data = form_ending(shown, "/email")
    assert again_action == action
    sent = site.post(again_action, again_data)
    assert sent.status_code == 200
    [message] = smtp_server.mailbox.messages()
    assert link in message.get_body(preferencelist=("plain",)).get_content()
    assert invitation_row(site.app, invitation_id_of(action)).emailed_at is not None


def test_a_practice_name_with_a_line_break_still_makes_one_subject_line(site, smtp_server):
    """Typed only by a crafted request (a text box sends no line break), it once made the
    message unbuildable: a 500 instead of the email."""
    configure_mail(site.app, smtp_server.port)
    set_practice(site.app, name="Harbour Lane\nBcc: someone@example.com")
    page, link = site.invite(site.add_couple(), "A")
    action, data = form_ending(page, "/email")
    assert site.post(action, data).status_code == 200
    [envelope] = smtp_server.mailbox.envelopes
    assert envelope.rcpt_tos == [EMAIL_A]
    [message] = smtp_server.mailbox.messages()
    assert message["Subject"] == "Your questions from Harbour Lane Bcc: someone@example.com"
    assert message["Bcc"] is None
    assert link in message.get_body(preferencelist=("plain",)).get_content()


def test_without_a_mail_server_there_is_no_email_button_and_no_email(site, smtp_server):
    couple_id = site.add_couple()
    page, _ = site.invite(couple_id, "A")
    assert not has_form(page, "/email")
    assert "Email is not set up for this practice" in html.unescape(page)
    action, data = form_ending(page, "/slip.pdf")
    email_action = action.removesuffix("/slip.pdf") + "/email"

    response = site.post(email_action, data)
    assert response.status_code == 400
    assert smtp_server.mailbox.envelopes == []
    assert invitation_row(site.app, invitation_id_of(action)).emailed_at is None


def test_a_partner_without_an_address_gets_no_email_button(site, smtp_server):
    configure_mail(site.app, smtp_server.port)
    couple_id = site.add_couple(email_a="")
    page, _ = site.invite(couple_id, "A")
    assert not has_form(page, "/email")
    assert f"There is no email address on record for {PARTNER_A}" in html.unescape(page)
    action, data = form_ending(page, "/slip.pdf")

    response = site.post(action.removesuffix("/slip.pdf") + "/email", data)
    assert response.status_code == 400
    assert smtp_server.mailbox.envelopes == []


def test_a_wrong_token_sends_nothing(site, smtp_server):
    configure_mail(site.app, smtp_server.port)
    couple_id = site.add_couple()
    page, _ = site.invite(couple_id, "A")
    action, data = form_ending(page, "/email")

    for token in ("x" * 43, "", data["token"][:-1]):
        response = site.post(action, {**data, "token": token})
        assert response.status_code == 400, token
    # Another invitation's token does not open this one's email either.
    _, other_data = form_ending(site.invite(couple_id, "B")[0], "/slip.pdf")
    assert site.post(action, {**data, "token": other_data["token"]}).status_code == 400
    # Nor does the right token without the page's CSRF token.
    assert site.post(action, {"token": data["token"]}).status_code == 400

    assert smtp_server.mailbox.envelopes == []
    assert invitation_row(site.app, invitation_id_of(action)).emailed_at is None


# ------------------------------------------------------------------------------ the slip
def test_the_slip_holds_the_name_link_and_practice_and_nothing_clinical(site):
    set_practice(site.app)
    couple_id = site.add_couple()
    page, link = site.invite(couple_id, "A")
    action, data = form_ending(page, "/slip.pdf")
    assert set(data) == {"csrf_token", "token"}

    response = site.post(action, data)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="invitation-a.pdf"'
    assert "no-store" in response.headers.get("Cache-Control", "")
    content = response.get_data()
    assert content.startswith(b"%PDF")
    slip = pdf_text(content)
    squeezed = "".join(slip.split())
    assert "".join(link.split()) in squeezed  # the link may wrap over lines
    assert PARTNER_A in slip
    assert PRACTICE in " ".join(slip.split())
    assert "".join(CONTACT.split()) in squeezed
    assert leaks(slip, link) == []
    # Printing stores nothing and marks nothing: the invitation is as it was.
    assert invitation_row(site.app, invitation_id_of(action)).emailed_at is None


def test_an_old_token_prints_no_slip_after_the_link_is_made_again(site):
    couple_id = site.add_couple()
    page, old_link = site.invite(couple_id, "A")
    action, old = form_ending(page, "/slip.pdf")
    invitation_id = invitation_id_of(action)

    reissue_action, reissue_data = form_ending(site.detail(couple_id), f"/{invitation_id}/reissue")
    reissued = site.post(reissue_action, {**reissue_data, "valid_days": "5"})
    assert reissued.status_code == 200, reissued.get_data(as_text=True)[:2000]
    new_page = reissued.get_data(as_text=True)
    new_action, new = form_ending(new_page, "/slip.pdf")
    assert new_action == action
    assert new["token"] != old["token"]

    assert site.post(action, old).status_code == 400
    assert site.post(action, {**old, "token": "not-a-token"}).status_code == 400
    fresh = site.post(action, new)
    assert fresh.status_code == 200
    squeezed = "".join(pdf_text(fresh.get_data()).split())
    assert old_link not in squeezed
    assert new["token"] in squeezed

    # A revoked link prints nothing, even with its own token.
    revoke_action, revoke_data = form_ending(site.detail(couple_id), f"/{invitation_id}/revoke")
    assert site.post(revoke_action, revoke_data).status_code == 302
    assert site.post(action, new).status_code == 400


# ------------------------------------------------------------------------------ practice lines
def practice_page(client: Any) -> tuple[int, str]:
    response = client.get("/admin/practice")
    return response.status_code, response.get_data(as_text=True)


def save_practice(client: Any, page: str, **changes: str) -> Any:
    version = re.search(r'name="version" type="hidden" value="(\d*)"', page)
    assert version, page[:2000]
    data = {
        "name": PRACTICE,
        "contact_line": CONTACT,
        "crisis_line": CRISIS,
        "paper_size": "a4",
        "version": version.group(1),
        **changes,
    }
    return client.post_form("/admin/practice", data)


def safety_page(app: Flask, client: Any, couple_id: int, label: str) -> str:
    _, link = invite(client, couple_id, label)
    browser = PartnerBrowser(app)
    assert browser.open(link).status_code == 200
    response = browser.get(browser.url("/intake/safety"))
    assert response.status_code == 200, browser.page[:2000]
    return html.unescape(browser.page)


def test_practice_contact_and_crisis_lines_reach_the_partners_safety_page(
    app, client, make_therapist, make_couple
):
    admin = make_therapist("Dana Whitfield", admin=True)
    login(client, admin)
    couple_id = make_couple(admin, (PARTNER_A, PARTNER_B))

    status, page = practice_page(client)
    assert status == 200
    saved = save_practice(client, page)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    status, page = practice_page(client)
    shown = html.unescape(page)
    assert f'value="{CONTACT}"' in shown and f'value="{CRISIS}"' in shown
    with app.app_context():
        settings = practice()
        assert (settings.contact_line, settings.crisis_line) == (CONTACT, CRISIS)

    safety = safety_page(app, client, couple_id, "A")
    assert CRISIS in safety
    assert CONTACT in safety
    assert DEFAULT_CRISIS not in safety

    # Too long: said beside the field, what was typed kept, nothing saved.
    too_long = "Call " + "9" * 200
    refused = save_practice(client, page, crisis_line=too_long)
    assert refused.status_code == 422
    form_page = html.unescape(refused.get_data(as_text=True))
    error = re.search(r'<p class="field-error" id="crisis_line-error">(.*?)</p>', form_page, re.S)
    assert error, form_page[:3000]
    assert "200" in error.group(1)
    assert f'value="{too_long}"' in form_page
    assert 'id="contact_line-error"' not in form_page
    with app.app_context():
        assert practice().crisis_line == CRISIS

    # An empty crisis line: partners are told to call their local emergency number.
    status, page = practice_page(client)
    assert save_practice(client, page, crisis_line="", contact_line="").status_code == 302
    safety = safety_page(app, client, couple_id, "B")
    assert DEFAULT_CRISIS in safety
    assert CRISIS not in safety
    assert "To reach the practice" not in safety


def test_only_an_administrator_changes_the_practice_lines(client, therapist):
    login(client, therapist)
    assert client.get("/admin/practice").status_code == 403
    response = client.post_form(
        "/admin/practice",
        {"name": "X", "contact_line": "x", "crisis_line": "x", "paper_size": "a4", "version": "0"},
    )
    assert response.status_code == 403


# ------------------------------------------------------------------------------ migration 0010
_numbers = itertools.count(1)


@pytest.fixture
def app_at_0009(backend, tmp_path, request) -> Iterator[Flask]:
    """An app on an empty database of its own, to build up to revision 0009 and on."""
    name = f"counselor_delivery_migration_{next(_numbers)}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / name}.sqlite3"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = cluster.url(name)
    app = create_app(base_config(url, Path(tmp_path)))
    with app.app_context():
        upgrade("0009")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if backend != "sqlite":
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


# Two couples, an appointment each, check-ins on both: as the app at 0009 stored them.
ROWS_AT_0009 = (
    "INSERT INTO counselor_therapist (email, name, password_hash, is_admin, active, "
    "login_token, created_at) VALUES ('m@example.org', 'M', 'x', false, true, 'tok', "
    "CURRENT_TIMESTAMP)",
    "INSERT INTO counselor_couple (therapist_id, relationship_stage, presenting_concerns, "
    "status, created_at, updated_at, version) SELECT id, 'married', 'first', 'active', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1 FROM counselor_therapist",
    "INSERT INTO counselor_couple (therapist_id, relationship_stage, presenting_concerns, "
    "status, created_at, updated_at, version) SELECT id, 'dating', 'second', 'active', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1 FROM counselor_therapist",
    "INSERT INTO counselor_partner (couple_id, label, display_name, pronouns) "
    "SELECT id, 'A', 'Avery', '' FROM counselor_couple",
    "INSERT INTO counselor_partner (couple_id, label, display_name, pronouns) "
    "SELECT id, 'B', 'Blake', '' FROM counselor_couple",
    "INSERT INTO counselor_appointment (couple_id, starts_at, duration_minutes, status, "
    "created_at, updated_at, version) SELECT id, CURRENT_TIMESTAMP, 50, 'scheduled', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1 FROM counselor_couple",
    # Both partners of the first couple, partner A of the second.
    "INSERT INTO counselor_check_in (appointment_id, partner_label, instrument_id, "
    "instrument_version, answers, total) SELECT a.id, p.label, 'csi4', 1, '{}', 12 "
    "FROM counselor_appointment a JOIN counselor_partner p ON p.couple_id = a.couple_id "
    "WHERE a.couple_id = (SELECT MIN(id) FROM counselor_couple) OR p.label = 'A'",
    "INSERT INTO counselor_practice (name, paper_size, version) VALUES ('Harbour', 'a4', 1)",
)
CHECK_INS = (
    "SELECT c.id, c.appointment_id, c.partner_label, c.total FROM counselor_check_in c "
    "ORDER BY c.id"
)
COUPLES_OF_CHECK_INS = (
    "SELECT c.id, c.couple_id, a.couple_id FROM counselor_check_in c "
    "JOIN counselor_appointment a ON a.id = c.appointment_id ORDER BY c.id"
)


def rows(sql: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def columns(table: str) -> dict[str, dict]:
    return {column["name"]: column for column in inspect(db.engine).get_columns(table)}


def test_migration_0010_gives_check_ins_their_couple_and_goes_back(app_at_0009):
    with app_at_0009.app_context():
        with db.engine.begin() as connection:
            for statement in ROWS_AT_0009:
                connection.execute(text(statement))
        before = rows(CHECK_INS)
        assert len(before) == 3

        upgrade("0010")
        assert current() == "0010"
        assert rows(CHECK_INS) == before
        couples = rows(COUPLES_OF_CHECK_INS)
        assert [(own == via) for _, own, via in couples] == [True] * 3
        assert len({own for _, own, _ in couples}) == 2  # each from its own appointment
        check_in = columns("counselor_check_in")
        assert check_in["couple_id"]["nullable"] is False
        assert check_in["appointment_id"]["nullable"] is True
        assert (
            rows("SELECT answered_at, invitation_id FROM counselor_check_in") == [(None, None)] * 3
        )
        assert rows("SELECT name, contact_line, crisis_line FROM counselor_practice") == [
            ("Harbour", "", "")
        ]

        # At 0010: an invitation, a check-in it brought for the appointment, and one between
        # sessions (no appointment), which revision 0009 has no place for.
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO counselor_invitation (couple_id, partner_id, purpose, "
                    "token_hash, created_by_id, created_at, expires_at, version) "
                    "SELECT p.couple_id, p.id, 'check_in', 'hash', t.id, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP, 1 FROM counselor_partner p, counselor_therapist t "
                    "WHERE p.id = (SELECT MIN(id) FROM counselor_partner)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO counselor_check_in (appointment_id, couple_id, partner_label, "
                    "instrument_id, instrument_version, answers, total, invitation_id) "
                    "SELECT a.id, a.couple_id, 'A', 'balance', 1, '{}', 8, i.id "
                    "FROM counselor_appointment a, counselor_invitation i "
                    "WHERE a.couple_id = i.couple_id"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO counselor_check_in (couple_id, partner_label, instrument_id, "
                    "instrument_version, answers, total, answered_at) SELECT couple_id, 'A', "
                    "'csi4', 1, '{}', 5, CURRENT_TIMESTAMP FROM counselor_invitation"
                )
            )
            connection.execute(
                text("UPDATE counselor_practice SET contact_line = 'desk', crisis_line = '911'")
            )
        kept = [row for row in rows(CHECK_INS) if row[3] != 5]  # all but between sessions
        assert len(kept) == 4

        downgrade("0009")
        assert current() == "0009"
        assert rows(CHECK_INS) == kept  # only the check-in between sessions is gone
        check_in = columns("counselor_check_in")
        assert {"couple_id", "answered_at", "invitation_id"}.isdisjoint(check_in)
        assert check_in["appointment_id"]["nullable"] is False
        assert "contact_line" not in columns("counselor_practice")
        assert "partner_answered_at" not in columns("counselor_response")
        tables = set(inspect(db.engine).get_table_names())
        assert {"counselor_invitation", "counselor_rate_limit"}.isdisjoint(tables)

        # And up again, from the database the downgrade left.
        upgrade("0010")
        assert [(own == via) for _, own, via in rows(COUPLES_OF_CHECK_INS)] == [True] * 4
