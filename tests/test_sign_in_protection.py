"""Issue 18: passwords built from a name or a common word with a year are refused; refused
sign-ins are throttled per address across accounts; signing in and out renews the CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import generate_password_hash

from conftest import CSRF_META, PASSWORD, Client, add_couple, base_config, fresh_database, login
from counselor_app import create_app
from counselor_app.auth.services import AccountError, create_therapist
from counselor_app.extensions import db
from counselor_app.intake.services import steps
from counselor_app.models import Couple, Practice, Therapist
from host_support import (  # noqa: F401
    COUPLE_FORM,
    PREFIX,
    HostClient,
    clinician,
    host,
    host_template,
)
from partner_support import PartnerBrowser, invite, path_of

PREDICTABLE = "is a name, a part of an email address or a common word"
ATTACKER = "203.0.113.9"
COLLEAGUE = "198.51.100.7"


# ------------------------------------------------------------------------------ passwords
def change_password(client: Client, new: str) -> Any:
    return client.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )


def test_a_name_an_email_part_or_a_common_word_with_a_year_is_refused(app, make_therapist):
    theo = make_therapist("Theo Five")
    with app.app_context():
        db.session.add(Practice(name="Harbourside Relationships"))
        db.session.commit()
    client = app.test_client()
    assert login(client, theo).status_code == 302
    refused = [
        "Theo Five 2026!",
        "Counselor2026!",
        "C0unselor-1999!",
        "Example.Org.2026!",  # the email's domain
        "Harbourside2026!",
    ]
    for password in refused:
        response = change_password(client, password)
        page = response.get_data(as_text=True)
        error = re.search(r'id="new_password-error">(.*?)</p>', page, re.S)
        assert error and PREDICTABLE in error.group(1), (password, page[-1500:])
        assert password not in page  # never echoed back
    with app.app_context():
        assert db.session.get(Therapist, theo.id).check_password(PASSWORD)

    # The command line's set-password and a new account obey the same policy.
    result = app.test_cli_runner().invoke(
        args=["counselor", "therapist", "set-password", theo.email, "--password-stdin"],
        input="Theo Five 2026!\n",
    )
    assert result.exit_code != 0 and PREDICTABLE in result.output
    with app.app_context(), pytest.raises(AccountError, match="common word"):
        create_therapist("Ada Rivera", "ada@example.org", "Ada.Rivera.2026")
    # A passphrase of unrelated words passes, the account's own name within it or not.
    assert change_password(client, "theo keeps quiet orchards warm").status_code == 302


# ------------------------------------------------------------------------------ throttling
@pytest.fixture
def proxied_url(backend, database_template, tmp_path, request) -> Iterator[str]:
    """A database of the test's own, for the workers the test starts on it."""
    with fresh_database(backend, database_template, tmp_path, request) as url:
        yield url


def proxied_worker(url: str, folder: Path) -> Flask:
    """A worker of a deployment behind nginx (COUNSELOR_PROXY_FIX), on the shared database."""
    app = create_app({**base_config(url, folder), "COUNSELOR_PROXY_FIX": True})
    app.test_client_class = Client
    return app


def cheap_accounts(app: Flask, count: int) -> list[str]:
    """Accounts whose password hash is quick to check: this test is about counting, and each
    scrypt check would cost a quarter of a second."""
    cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")
    emails = [f"colleague{number}@example.org" for number in range(count)]
    with app.app_context():
        db.session.add_all(
            Therapist(name=f"Colleague {n}", email=email, password_hash=cheap)
            for n, email in enumerate(emails)
        )
        db.session.commit()
    return emails


def sign_in_from(client: Client, address: str, email: str, password: str) -> Any:
    # A client may send an X-Forwarded-For of its own: nginx appends the address it saw, and
    # only that last one is trusted.
    forwarded = {"X-Forwarded-For": f"10.0.0.1, {address}"}
    token = CSRF_META.search(client.get("/login", headers=forwarded).get_data(as_text=True))
    assert token
    data = {"csrf_token": token.group(1), "email": email, "password": password}
    return client.post("/login", data=data, headers=forwarded)


def test_failures_spread_over_accounts_from_one_address_are_throttled(proxied_url, tmp_path):
    worker = proxied_worker(proxied_url, tmp_path / "one")
    emails = cheap_accounts(worker, 16)
    attacker = worker.test_client()
    statuses = [
        sign_in_from(attacker, ATTACKER, emails[n % 16], "a wrong guess").status_code
        for n in range(30)
    ]
    # Two guesses per account lock none of them; the address is stopped after 20.
    assert statuses == [401] * 20 + [429] * 10
    refused = sign_in_from(attacker, ATTACKER, emails[0], "a wrong guess other")
    page = refused.get_data(as_text=True)
    assert "Too many failed sign-in attempts from your network. Try again in 15 minutes." in page
    assert f'value="{emails[0]}"' in page and "a wrong guess other" not in page
    # The right password waits too from that address; a colleague elsewhere signs in.
    assert sign_in_from(attacker, ATTACKER, emails[1], PASSWORD).status_code == 429
    assert sign_in_from(worker.test_client(), COLLEAGUE, emails[1], PASSWORD).status_code == 302
    # Another worker process counts in the same place (the database): the address waits there.
    other_worker = proxied_worker(proxied_url, tmp_path / "two")
    client = other_worker.test_client()
    assert sign_in_from(client, ATTACKER, emails[2], PASSWORD).status_code == 429
    with other_worker.app_context():
        db.engine.dispose()
    with worker.app_context():
        db.engine.dispose()


def test_mounted_the_host_sign_in_is_left_alone_and_links_count_the_real_address(host):
    """Mounted, the sign-in is the host's: no limit of ours on it. Our partner links count
    wrong tries per client address, as the host's own proxy handling gives it."""
    host.wsgi_app = ProxyFix(host.wsgi_app, x_for=1)  # the host's deployment behind nginx
    client: HostClient = host.test_client()
    for _ in range(25):
        response = client.post_form("/login", {"email": "ada@example.org", "password": "wrong"})
        assert response.status_code == 200  # the host's own answer, never a 429 of ours
    wrong_link = f"{PREFIX}/answer/{'x' * 43}"

    def try_link(address: str) -> int:
        return client.get(wrong_link, headers={"X-Forwarded-For": address}).status_code

    assert [try_link(ATTACKER) for _ in range(11)] == [404] * 10 + [429]
    assert try_link(COLLEAGUE) == 404


# ------------------------------------------------------------------------------ CSRF tokens
def session_secret(client: Any) -> str | None:
    with client.session_transaction() as session:
        return session.get("csrf_token")


def test_signing_in_and_out_renews_the_csrf_token(client, therapist):
    before = client.csrf_token()
    secret_before = session_secret(client)
    payload = {"csrf_token": before, "email": therapist.email, "password": PASSWORD}
    assert client.post("/login", data=payload).status_code == 302
    assert session_secret(client) != secret_before
    # The token of the sign-in page no longer sends a form; the signed-in page's does.
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400
    assert client.get("/").status_code == 200
    signed_in = client.csrf_token()
    secret_signed_in = session_secret(client)
    assert client.post("/logout", data={"csrf_token": signed_in}).status_code == 302
    assert session_secret(client) != secret_signed_in
    payload["csrf_token"] = signed_in
    assert client.post("/login", data=payload).status_code == 400


def test_a_partner_link_opened_afresh_renews_the_csrf_token(app, make_therapist):
    therapist = make_therapist("Dana Whitfield")
    client = app.test_client()
    login(client, therapist)
    couple_id = add_couple(app, therapist.id, ("Avery", "Blake"))
    link = invite(client, couple_id, "A")[1]
    partner = PartnerBrowser(app)
    with partner.client.session_transaction() as session:
        session["csrf_token"] = "planted-with-a-session-cookie"
    assert partner.open(link).status_code == 200
    assert session_secret(partner.client) != "planted-with-a-session-cookie"
    assert partner.get(partner.url(f"/intake/{steps()[0].slug}")).status_code == 200
    opened = session_secret(partner.client)
    assert opened is not None
    # Reopened while the partner session is open: the pages already open keep working.
    assert partner.client.get(path_of(link)).status_code == 303
    assert session_secret(partner.client) == opened
    # The therapist opening the link in their own browser keeps their pages' token too.
    secret = session_secret(client)
    assert client.get(path_of(link)).status_code == 303
    assert session_secret(client) == secret


def test_mounted_our_forms_follow_the_hosts_renewed_token(host, clinician):
    """The reference host renews its token at sign-in and sign-out; our pages use the host's
    session token, so one from before signing in is refused on our forms too."""
    client: HostClient = host.test_client()
    before = client.csrf_token()
    client.sign_in(clinician)
    page = client.get(f"{PREFIX}/couples/new").get_data(as_text=True)
    ours = CSRF_META.search(page)
    assert ours
    stale = client.post(f"{PREFIX}/couples/new", data={**COUPLE_FORM, "csrf_token": before})
    assert stale.status_code == 400
    fresh = client.post(f"{PREFIX}/couples/new", data={**COUPLE_FORM, "csrf_token": ours.group(1)})
    assert fresh.status_code == 302
    with host.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Couple)) == 1
