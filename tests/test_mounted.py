"""counselor_app mounted in the reference host (examples/host_app), as a practice would run it.

On the host's database, sign-in, layout and CSRF protection: a host clinician's whole journey
through our pages; the host's own pages, records, webhook and migrations beside ours; nobody
but the couple's own clinician sees any of it; backups and restores cover our tables only.
"""

# The host fixtures are imported from host_support and named as test arguments, by design.

from __future__ import annotations

import re
import sqlite3
import subprocess
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

import pgcluster
from appointment_support import Visit, balance_answers, csi_answers, seed_history
from counselor_app import schema
from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.intake.services import steps
from counselor_app.models import (
    Appointment,
    CheckIn,
    Couple,
    Flag,
    Invitation,
    IssuedDocument,
    Therapist,
)
from counselor_app.web import is_partner_page
from examples.host_app.host_app import clients as host_clients
from examples.host_app.host_app import db as host_db
from examples.host_app.host_app.extensions import Base as HostBase
from examples.host_app.host_app.models import Appointment as HostAppointment
from examples.host_app.host_app.models import Client
from host_support import (  # noqa: F401  (fixtures)
    COUPLE_FORM,
    PASSWORD,
    PREFIX,
    Staff,
    clinician,
    host,
    host_client,
    host_template,
    other_clinician,
    receptionist,
)
from intake_support import (
    CSI_DISTRESSED,
    CSI_SATISFIED,
    enter_intake_via_web,
    seed_intake,
    step_url,
)
from partner_support import invite
from plan_support import clinical_leaks, new_plan, pdf_text
from route_walk import Route, collect_forms, form_for, routes, typed_by_the_owner
from snapshot_support import Snapshot, changes, snapshot
from vignettes import VIGNETTES

STORY = next(v for v in VIGNETTES if v.name == "pursue_withdraw")
FLAG = "mismatched_needs"
# Unique words typed into everything a couple's handout must never show.
MARKERS = {
    "goals_a": "ZQXMOUNTGOALSA",
    "else_b": "ZQXMOUNTANYTHINGB",
    "flag_note": "ZQXMOUNTFLAGNOTE",
    "plan_goals": "ZQXMOUNTPLANGOALS",
    "private": "ZQXMOUNTPRIVATE",
}
# What the host's layout (examples/host_app/host_app/templates/base.html) puts on every page.
HOST_TITLE = " · Riverside Practice</title>"
HOST_BRAND = '<a class="site-name" href="/clients">Riverside Practice</a>'
HOST_NAV = f'<li><a href="{PREFIX}/">Couples therapy</a></li>'
# What our pages bring into the host's <head>.
OUR_STYLESHEET = f'<link rel="stylesheet" href="{PREFIX}/counselor-static/css/app.css">'
CSRF_META = '<meta name="csrf-token" content="'
# Our routes that serve files, not pages (stylesheets, scripts, the health check): open to
# anyone, as the host's own static files are. Every other route of ours is for clinicians.
PUBLIC_FILES = {
    "counselor.static",
    "counselor.print_css",
    "counselor.health",
    "counselor.ready",
    # The instruments as FHIR Questionnaires: wording and scores, no client data.
    "counselor.fhir.questionnaire",
    # A therapist's calendar feed: its own secret in the URL opens it, no sign-in can; an
    # unknown one is a 404 (tests/test_calendars.py).
    "counselor.calendars.feed",
}


def our_page(client: Any, url: str) -> str:
    """A page of ours, as a host clinician sees it: inside the host's layout."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    page = response.get_data(as_text=True)
    for part in (HOST_TITLE, HOST_BRAND, HOST_NAV, OUR_STYLESHEET, CSRF_META):
        assert part in page, (url, part)
    return page


def followed(client: Any, response: Any, location: str) -> str:
    """The page a form's redirect leads to, whose address must match ``location`` (a regex)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert re.fullmatch(location, response.headers["Location"]), response.headers["Location"]
    return our_page(client, response.headers["Location"])


def add_couple(client: Any, **changes: str) -> int:
    response = client.post_form(f"{PREFIX}/couples/new", {**COUPLE_FORM, **changes})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(rf"{PREFIX}/couples/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def flashed(page: str, message: str) -> bool:
    """Whether ``message`` was flashed on the page: once, in the host's layout (which shows
    every flashed message, its own and ours)."""
    return page.count(f'<p class="flash flash-success">{escape(message)}</p>') == 1 and (
        page.count(str(escape(message))) == 1
    )


# ------------------------------------------------------------------------------ the journey
def test_a_host_clinician_takes_a_couple_from_intake_to_progress(host, host_client):
    # The host's "Couples therapy" link: our dashboard, in the host's layout.
    clients = host_client.get("/clients").get_data(as_text=True)
    assert HOST_NAV in clients
    assert "You have no active couples yet." in our_page(host_client, f"{PREFIX}/")

    # A couple, through our form.
    response = host_client.post_form(f"{PREFIX}/couples/new", COUPLE_FORM)
    page = followed(host_client, response, rf"{PREFIX}/couples/\d+")
    couple_url = response.headers["Location"]
    couple_id = int(couple_url.rsplit("/", 1)[1])
    assert flashed(page, "Couple added.")
    assert "Partner A: Jordan" in page and "Partner B: Riley" in page

    # Both partners' intakes, page by page.
    first_step = step_url(couple_id, "A", steps()[0].slug, PREFIX)
    heading = f"{steps()[0].section.title} · Jordan's intake · Jordan &amp; Riley"
    assert f"<title>{heading} · Riverside Practice</title>" in our_page(host_client, first_step)
    for label, story, csi, typed in (
        ("A", STORY.a, CSI_SATISFIED, {"bg_goals": MARKERS["goals_a"]}),
        ("B", STORY.b, CSI_DISTRESSED, {"end_anything_else": MARKERS["else_b"]}),
    ):
        enter_intake_via_web(
            host_client, couple_id, label, intake={**story, **typed}, csi=csi, prefix=PREFIX
        )
    page = our_page(host_client, couple_url)
    assert page.count("✓ complete") == 2, page

    # The flag the answers raise is on the assessment page; confirmed there.
    title = CHALLENGES[FLAG][0]
    assessment = our_page(host_client, f"{couple_url}/assessment")
    assert title in assessment
    article = assessment[assessment.index(title) :]
    action = re.search(r'action="([^"]+/confirm)"', article).group(1)
    assert re.fullmatch(rf"{couple_url}/flags/\d+/confirm", action), action
    flag_id = action.split("/")[-2]
    version = re.search(
        rf'name="flag{flag_id}-confirm-version" type="hidden" value="(\d+)"', article
    )
    response = host_client.post_form(
        action,
        {
            f"flag{flag_id}-confirm-note": MARKERS["flag_note"],
            f"flag{flag_id}-confirm-version": version.group(1),
        },
    )
    page = followed(host_client, response, rf"{couple_url}/assessment#flag-{flag_id}")
    assert flashed(page, "Flag confirmed.")
    assert "Confirmed (1)" in page and "Confirmed by Ada Rivera" in page

    # A session plan from the confirmed flag.
    plan_id = new_plan(
        host_client,
        couple_id,
        prefix=PREFIX,
        goals=MARKERS["plan_goals"],
        private_notes=MARKERS["private"],
    )
    plan_url = f"{couple_url}/plans/{plan_id}"
    assert flashed(our_page(host_client, plan_url), "Session plan saved.")

    # Both PDFs issued, then downloaded from the links on the plan's page.
    for kind, message in (
        ("plan", "Session plan issued as version 1."),
        ("handout", "Client handout issued as version 1."),
    ):
        response = host_client.post_form(f"{plan_url}/issue/{kind}")
        page = followed(host_client, response, rf"{plan_url}#document-\d+")
        assert flashed(page, message)
    links = dict(
        (name, url)
        for url, name in re.findall(
            rf'<a href="({couple_url}/plans/documents/\d+)">(Session plan|Client handout) \(',
            page,
        )
    )
    assert links.keys() == {"Session plan", "Client handout"}, links
    pdfs = {}
    for name, url in links.items():
        download = host_client.get(url)
        assert download.status_code == 200 and download.mimetype == "application/pdf"
        assert download.headers["Content-Disposition"].startswith("attachment")
        pdfs[name] = pdf_text(download.data)
    plan_text = " ".join(pdfs["Session plan"].split())
    for expected in ("Jordan", title, MARKERS["plan_goals"], MARKERS["private"], "CSI-4"):
        assert expected in plan_text, expected
    handout = pdfs["Client handout"]
    assert "between sessions: jordan and riley" in " ".join(handout.split()).lower()
    assert clinical_leaks(handout, MARKERS.values()) == []

    # An appointment with both partners' check-ins, and the signed note.
    response = host_client.post_form(
        f"{couple_url}/appointments",
        {
            "starts_at": "2026-03-02T17:00",
            "duration_minutes": "50",
            "status": "completed",
            "attendance": "both",
            "plan_id": str(plan_id),
        },
    )
    page = followed(host_client, response, rf"{couple_url}/appointments/\d+")
    appointment_url = response.headers["Location"]
    assert flashed(page, "Appointment added.")
    for label, csi, balance in (("a", 12, 9), ("b", 9, 11)):
        answers = {**csi_answers(csi), **balance_answers(balance)}
        response = host_client.post_form(
            f"{appointment_url}/check-in/{label}",
            {
                f"checkin-{label}-version": "0",
                **{f"checkin-{label}-{item}": str(value) for item, value in answers.items()},
            },
        )
        page = followed(host_client, response, rf"{appointment_url}#check-in-{label}")
        assert flashed(page, f"Partner {label.upper()}'s check-in saved.")
    response = host_client.post_form(
        f"{appointment_url}/note",
        {
            "note-dap_data": "Both named the evening standoff.",
            "note-dap_assessment": "Pattern recognised by both.",
            "note-dap_plan": "Keep the weekly evenings plan.",
            "note-version": "0",
            "action": "sign",
        },
    )
    page = followed(host_client, response, rf"{appointment_url}#note")
    assert flashed(page, "Note signed and locked.") and "Signed by Ada Rivera" in page

    # Progress shows both check-ins.
    progress = our_page(host_client, f"{couple_url}/progress")
    assert "<title>Progress · Jordan &amp; Riley · Riverside Practice</title>" in progress
    csi = progress[progress.index('id="measure-csi4"') :]
    assert re.search(r"Jordan</th>\s*<td>12</td>", csi), csi[:3000]
    assert re.search(r"Riley</th>\s*<td>9</td>", csi), csi[:3000]


# ------------------------------------------------------------------------------ the host's own
class BookedDay(date):
    """The day the host's day sheet takes for today, so that it does not change at midnight."""

    @classmethod
    def today(cls) -> date:
        return date(2026, 3, 2)


def test_the_hosts_own_pages_and_records_keep_working(
    host, host_client, clinician, receptionist, monkeypatch
):
    monkeypatch.setattr(host_clients, "date", BookedDay)
    anonymous = host.test_client()
    login = anonymous.get("/login")
    assert login.status_code == 200
    page = login.get_data(as_text=True)
    assert "<title>Sign in · Riverside Practice</title>" in page and "<h1>Sign in</h1>" in page
    assert OUR_STYLESHEET not in page  # the host's page, not ours
    assert anonymous.get("/clients").headers["Location"] == "/login?next=%2Fclients"

    # A client and an appointment through the host's own forms, in its own `appointment` table.
    response = host_client.post_form("/clients/new", {"name": "Dana Whitfield", "email": ""})
    assert response.status_code == 302 and response.headers["Location"] == "/clients"
    page = host_client.get("/clients").get_data(as_text=True)
    assert "Client added." in page and "<td>Dana Whitfield</td>" in page
    with host.app_context():
        client_id = host_db.session.scalar(select(Client.id).where(Client.name == "Dana Whitfield"))
    starts_at = datetime(2026, 3, 2, 10, 30)
    response = host_client.post_form(
        "/appointments/new",
        {
            "client_id": str(client_id),
            "clinician_id": str(clinician.id),
            "starts_at": starts_at.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/appointments"
    page = host_client.get("/appointments").get_data(as_text=True)
    assert "Appointment booked." in page
    assert re.search(r"<td>Dana Whitfield</td>\s*<td>Ada Rivera</td>", page)
    sheet = host_client.get("/appointments/day-sheet.csv")
    assert sheet.status_code == 200 and sheet.mimetype == "text/csv"
    assert sheet.get_data(as_text=True).splitlines() == [
        "Time,Client,Clinician",
        "10:30,Dana Whitfield,Ada Rivera",
    ]
    with host.app_context():
        assert HostAppointment.__table__.name == "appointment"
        booked = host_db.session.scalars(select(HostAppointment)).one()
        assert (booked.client.name, booked.clinician.name) == ("Dana Whitfield", "Ada Rivera")
        assert booked.starts_at == starts_at
        # Ours is another class on another table, and has no row of the host's.
        assert Appointment.__table__.name == "counselor_appointment"
        assert db.session.scalars(select(Appointment)).all() == []
        assert {"appointment", "counselor_appointment"} <= set(
            sa.inspect(host_db.engine).get_table_names()
        )

    # The host's admin page: for its practice admin only, by the host's own rule.
    staff = host_client.get("/admin/users")
    assert staff.status_code == 200
    page = staff.get_data(as_text=True)
    assert "<h1>Staff</h1>" in page and "<td>Cara Lindqvist</td>" in page
    front_desk = host.test_client()
    front_desk.sign_in(receptionist)
    assert front_desk.get("/admin/users").status_code == 403
    assert front_desk.get("/clients").status_code == 200

    # The exempt webhook takes JSON without a token; the host's forms still need theirs.
    hook = anonymous.post("/webhooks/calendar", json={"event": "moved", "id": "evt-1"})
    assert hook.status_code == 204
    assert anonymous.post("/webhooks/calendar", json=["not", "a", "notice"]).status_code == 400
    refused = host_client.post("/clients/new", data={"name": "No Token"})
    assert refused.status_code == 400
    with host.app_context():
        assert host_db.session.scalar(select(Client).where(Client.name == "No Token")) is None

    # The host's sign-out ends our pages too: we keep no sign-in of our own.
    signed_out = host_client.post_form("/logout")
    assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/login"
    assert sign_in_asked_for(host_client.get(f"{PREFIX}/"), f"{PREFIX}/")


def test_the_hosts_migrations_leave_our_tables_to_ours(host, monkeypatch):
    # Alembic writes to the stdout of the moment it was imported: send it to the runner's.
    monkeypatch.setattr(
        AlembicConfig,
        "print_stdout",
        lambda self, text, *arg: click.echo(text % arg if arg else text),
    )
    runner = host.test_cli_runner()
    with host.app_context():
        tables = set(sa.inspect(host_db.engine).get_table_names())
    assert {"alembic_version", "counselor_alembic_version", "counselor_couple"} <= tables

    current = runner.invoke(args=["db", "current"])
    assert current.exit_code == 0, current.output
    assert current.output.strip().splitlines()[-1] == "0001 (head)"
    # The host's autogenerate compares its models with the database and finds nothing to do:
    # our counselor_* tables, in the same database, are not the host's to drop.
    check = runner.invoke(args=["db", "check"])
    assert check.exit_code == 0, check.output
    assert "No new upgrade operations detected." in check.output
    ours = runner.invoke(args=["counselor", "db", "current"])
    assert ours.exit_code == 0, ours.output
    assert ours.output.strip() == schema.heads()[0]


# ------------------------------------------------------------------------------ who sees what
def couple_with_everything(host: Flask, client: Any, clinician: Staff) -> dict[str, int]:
    """The clinician's couple with a row behind every kind of id our URLs take."""
    couple_id = add_couple(client)
    seed_intake(host, couple_id, "A", intake=dict(STORY.a))
    seed_intake(host, couple_id, "B", intake=dict(STORY.b), csi=CSI_DISTRESSED)
    plan_id = new_plan(client, couple_id, prefix=PREFIX)
    issued = client.post_form(f"{PREFIX}/couples/{couple_id}/plans/{plan_id}/issue/plan")
    assert issued.status_code == 302
    [appointment_id] = seed_history(host, couple_id, [Visit(csi={"A": 11, "B": 12})])
    invite(client, couple_id, "A", purpose="check_in", prefix=PREFIX)
    with host.app_context():
        ids = {
            "invitation_id": db.session.scalar(
                select(Invitation.id).where(Invitation.couple_id == couple_id)
            ),
            "couple_id": couple_id,
            "plan_id": plan_id,
            "appointment_id": appointment_id,
            "check_in_id": db.session.scalar(
                select(CheckIn.id).where(CheckIn.couple_id == couple_id)
            ),
            "flag_id": db.session.scalar(select(Flag.id).where(Flag.couple_id == couple_id)),
            "document_id": db.session.scalar(
                select(IssuedDocument.id).where(IssuedDocument.couple_id == couple_id)
            ),
            "therapist_id": db.session.scalar(
                select(Therapist.id).where(Therapist.external_id == f"host-user-{clinician.id}")
            ),
        }
    assert all(ids.values()), ids
    return ids


def our_routes(host: Flask, method: str) -> list[Route]:
    """Every route of ours that takes ``method``, files aside, and the partners' pages: those
    never use the host's sign-in, and answer anyone without a partner's link with the neutral
    page (tests/test_partner_access.py)."""
    found = [
        route
        for route in routes(host)
        if route.endpoint.startswith("counselor.")
        and route.endpoint not in PUBLIC_FILES
        and not is_partner_page(route.endpoint.removeprefix("counselor."))
        and method in route.methods
    ]
    assert len(found) > 20, found  # the walk covers the package, not a stray route or two
    return found


def shows_nothing_of_the_couple(body: str) -> bool:
    return not any(text in body for text in ("Jordan", "Riley", COUPLE_FORM["presenting_concerns"]))


def test_the_receptionist_gets_no_page_of_ours_and_changes_nothing(
    host, host_client, clinician, receptionist
):
    ids = couple_with_everything(host, host_client, clinician)
    front_desk = host.test_client()
    front_desk.sign_in(receptionist)
    assert HOST_NAV not in front_desk.get("/clients").get_data(as_text=True)

    pages = our_routes(host, "GET")
    for route in pages:
        url = route.url(ids)
        response = front_desk.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 403, (url, response.status_code)
        assert "<h1>Not allowed</h1>" in body and shows_nothing_of_the_couple(body), url
    # Only our stylesheets and scripts are open to all, as the host's own static files are.
    stylesheet = front_desk.get(f"{PREFIX}/counselor-static/css/app.css")
    assert stylesheet.status_code == 200 and stylesheet.mimetype == "text/css"
    stylesheet.close()

    # Every form of ours, as the clinician's pages post it, with the receptionist's own valid
    # token: refused, and nothing of ours changes.
    forms = typed_by_the_owner(
        host, ids, collect_forms(host, host_client, [r.url(ids) for r in pages], fill=True)
    )
    ours, theirs = snapshot(host), host_rows(host)
    token = front_desk.csrf_token()
    for route in our_routes(host, "POST"):
        form = form_for(route, forms, ids)
        response = front_desk.post(form.url, data=form.payload(token))
        assert response.status_code == 403, (form.url, response.status_code)
        assert shows_nothing_of_the_couple(response.get_data(as_text=True)), form.url
    assert changes(ours, snapshot(host)) == {} and host_rows(host) == theirs


def sign_in_asked_for(response: Any, url: str) -> bool:
    """Whether ``response`` sends the browser to the host's sign-in, to come back to ``url``."""
    if response.status_code != 302:
        return False
    location = urlsplit(response.headers["Location"])
    return location.path == "/login" and parse_qs(location.query) == {"next": [url]}


def test_an_anonymous_visitor_is_sent_to_the_hosts_sign_in(host, host_client, clinician):
    ids = couple_with_everything(host, host_client, clinician)
    visitor = host.test_client()
    for route in our_routes(host, "GET"):
        url = route.url(ids)
        response = visitor.get(url)
        assert sign_in_asked_for(response, url), (url, response.status_code, response.location)
    # Signing in there leads back to the page asked for.
    couple_url = f"{PREFIX}/couples/{ids['couple_id']}"
    asked = visitor.get(couple_url).headers["Location"]
    signed_in = visitor.post_form(asked, {"email": clinician.email, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == couple_url
    assert "<h1>Jordan &amp; Riley</h1>" in our_page(visitor, couple_url)


def test_two_host_clinicians_never_see_each_others_couples(
    host, host_client, clinician, other_clinician
):
    ids = couple_with_everything(host, host_client, clinician)
    ben = host.test_client()
    ben.sign_in(other_clinician)
    add_couple(ben, **{"partner_a-display_name": "Morgan", "partner_b-display_name": "Casey"})

    dashboard = our_page(ben, f"{PREFIX}/?status=all")
    assert "Morgan &amp; Casey" in dashboard and shows_nothing_of_the_couple(dashboard)
    found = ben.post_form(f"{PREFIX}/search", {"q": "Jordan", "status": "all"})
    assert found.status_code == 302
    results = our_page(ben, found.headers["Location"])
    assert "No couples match" in results and 'value="Jordan"' in results  # the search box
    assert "Jordan &amp; Riley" not in results
    dashboard = our_page(host_client, f"{PREFIX}/?status=all")
    assert "Jordan &amp; Riley" in dashboard and "Morgan" not in dashboard

    couple_pages = [r for r in our_routes(host, "GET") if "couple_id" in r.arguments]
    assert len(couple_pages) > 10
    for route in couple_pages:
        url = route.url(ids)
        response = ben.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert shows_nothing_of_the_couple(response.get_data(as_text=True)), url


# ------------------------------------------------------------------------------ backups
def host_rows(app: Flask) -> Snapshot:
    """Every row of the host's own tables, ordered by primary key."""
    rows: Snapshot = {}
    with app.app_context():
        for table in HostBase.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            rows[table.name] = [
                tuple(row) for row in host_db.session.execute(select(table).order_by(*order))
            ]
        rows["alembic_version"] = [
            tuple(row) for row in host_db.session.execute(sa.text("SELECT * FROM alembic_version"))
        ]
        host_db.session.rollback()
    return rows


def book(app: Flask, name: str, clinician: Staff, hour: int) -> None:
    """A host client with an appointment, written as the host writes them."""
    with app.app_context():
        client = Client(name=name)
        host_db.session.add(client)
        host_db.session.add(
            HostAppointment(
                client=client,
                clinician_id=clinician.id,
                starts_at=datetime(2026, 3, 2, hour),
            )
        )
        host_db.session.commit()


def tables_in_backup(backend: str, path: Path) -> set[str]:
    if backend == "sqlite":
        with closing(sqlite3.connect(path)) as backup_file:
            names = backup_file.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in names if not name.startswith("sqlite_")}
    listing = subprocess.run(
        [str(pgcluster.find_bindir() / "pg_restore"), "--list", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The dump's contents, one entry a line: "215; 1259 16390 TABLE public counselor_couple
    # owner", and its rows: "3470; 0 16390 TABLE DATA public counselor_couple owner".
    return set(re.findall(r"^\d+; \d+ \d+ TABLE(?: DATA)? \S+ (\w+)", listing, re.MULTILINE))


def test_backup_and_restore_while_mounted_touch_our_tables_only(
    backend, host, host_client, clinician, tmp_path
):
    couple_id = add_couple(host_client)
    add_couple(
        host_client, **{"partner_a-display_name": "Morgan", "partner_b-display_name": "Casey"}
    )
    seed_history(host, couple_id, [Visit(csi={"A": 11, "B": 12}), Visit(csi={"A": 12, "B": 13})])
    book(host, "Dana Whitfield", clinician, 10)
    ours, theirs = snapshot(host), host_rows(host)
    assert ours["counselor_couple"] and ours["counselor_appointment"] and theirs["appointment"]
    runner = host.test_cli_runner()
    path = tmp_path / "backups" / "couples-therapy.backup"

    result = runner.invoke(args=["counselor", "backup", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Backup written to {path}." in result.output
    tables = tables_in_backup(backend, path)
    assert tables and all(name.startswith("counselor_") for name in tables), tables
    assert b"Dana Whitfield" not in path.read_bytes()

    # After the backup: the host books a new client in; our rows change, go and grow.
    book(host, "Eli Moreno", clinician, 14)
    with host.app_context():
        db.session.get(Couple, couple_id).presenting_concerns = "Overwritten by mistake"
        db.session.delete(db.session.scalars(select(Appointment).order_by(Appointment.id)).first())
        db.session.commit()
    added = add_couple(
        host_client, **{"partner_a-display_name": "Priya", "partner_b-display_name": "Tom"}
    )
    assert flashed(our_page(host_client, f"{PREFIX}/couples/{added}"), "Couple added.")
    damaged, theirs_now = snapshot(host), host_rows(host)
    assert changes(ours, damaged).keys() >= {"counselor_couple", "counselor_appointment"}
    assert len(theirs_now["client"]) == len(theirs["client"]) + 1

    # Asked first, it says what it replaces and what it leaves alone; "n" changes nothing.
    declined = runner.invoke(args=["counselor", "restore", str(path)], input="n\n")
    assert declined.exit_code == 1
    assert (
        "only the couples-therapy tables (counselor_*) are replaced; the host's own tables are "
        "not touched." in " ".join(declined.output.split())
    )
    assert "Replace every couples-therapy table with the backup? [y/N]: n" in declined.output
    assert "Aborted" in declined.output
    assert changes(damaged, snapshot(host)) == {} and host_rows(host) == theirs_now

    restored = runner.invoke(args=["counselor", "restore", "--yes", str(path)])
    assert restored.exit_code == 0, restored.output
    assert f"Database restored from {path}." in restored.output
    # Ours: exactly as backed up, the restore itself recorded after the restored trail.
    assert changes(ours, snapshot(host), append_only={"counselor_audit_event"}) == {}
    assert host_rows(host) == theirs_now  # the host's: untouched, Eli Moreno included

    # Both apps go on working on the restored database.
    dashboard = our_page(host_client, f"{PREFIX}/")
    assert "Jordan &amp; Riley" in dashboard and "Priya" not in dashboard
    assert COUPLE_FORM["presenting_concerns"] in our_page(
        host_client, f"{PREFIX}/couples/{couple_id}"
    )
    # New rows of ours after the restore: ids (PostgreSQL's sequences) carry on from the backup.
    add_couple(host_client, **{"partner_a-display_name": "Sol", "partner_b-display_name": "Ira"})
    appointments = host_client.get("/appointments").get_data(as_text=True)
    assert "Dana Whitfield" in appointments and "Eli Moreno" in appointments
