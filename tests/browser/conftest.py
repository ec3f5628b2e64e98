"""Browser tests: the app served on 127.0.0.1 by a thread of this process, driven by Debian's
Chromium through Playwright (``executable_path``: no browser download).

One live server and one browser for the whole run. The server's SQLite database is a copy of
a freshly migrated one, seeded with a therapist (an administrator) whose couple has something
on every page: completed intakes, a suggested and a confirmed flag, a plan with an issued PDF,
two held appointments (the later one reviews the earlier one's homework) and so a progress
chart. Tests that change things make their own couple or therapist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from appointment_support import Visit, seed_history
from conftest import PASSWORD, Client, base_config, login, migrate_to_head
from counselor_app import create_app
from counselor_app.appointments.services import save_note
from counselor_app.assessment.services import confirm_flag
from counselor_app.auth.services import create_therapist
from counselor_app.couples.services import CoupleDetails, PartnerDetails, create_couple
from counselor_app.extensions import db
from counselor_app.intake.services import steps
from counselor_app.models import Appointment, Flag, RelationshipStage, Therapist
from examples.host_app.host_app import create_app as create_host_app
from examples.host_app.host_app import db as host_db
from host_support import PASSWORD as HOST_PASSWORD
from host_support import PREFIX, HostClient, add_staff, host_config, migrate_host, signed_in
from intake_support import seed_intake
from plan_support import new_plan
from vignettes import SAFE, VIGNETTES

from .support import CHROMIUM, CHROMIUM_ARGS, SIGNED_OUT_PAGES, VIEWPORT, require

# Raises two flags: the first stays suggested, the second is confirmed.
TWO_FLAGS = next(v for v in VIGNETTES if v.name == "identical_answers")
PLAN_HOMEWORK = "Take a twenty-minute walk together twice this week."


# ------------------------------------------------------------------------------ live server
class QuietHandler(WSGIRequestHandler):
    """No access log line per request: the page checks make hundreds."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class LiveServer:
    app: Flask
    base: str

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 from a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@dataclass(frozen=True)
class MountedHost:
    """The reference host (examples/host_app) on a live server, the package under PREFIX, and
    one staff member (an administrator) signed in on ``client``; ``therapist_id`` is their
    therapist of ours, made on their first visit."""

    app: Flask
    base: str
    client: Any
    therapist_id: int
    staff_name: str
    staff_email: str

    def sign_in(self, page: Page) -> None:
        """Sign the page in through the host's own sign-in form."""
        page.goto(f"{self.base}/login")
        page.get_by_label("Email").fill(self.staff_email)
        page.get_by_label("Password").fill(HOST_PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        assert "/login" not in page.url, page.url


@contextmanager
def mounted_host(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[MountedHost]:
    """The reference host with the package mounted, on a SQLite database of its own."""
    folder = tmp_path_factory.mktemp(name)
    instance = folder / "instance"
    url = f"sqlite:///{folder / 'host.sqlite3'}"
    migrate_host(url, instance)
    app = create_host_app(host_config(url, instance))
    app.test_client_class = HostClient
    staff = add_staff(app, "Ada Rivera", "ada@example.org", admin=True)
    client = signed_in(app, staff)
    assert client.get(f"{PREFIX}/").status_code == 200  # our therapist, made on first visit
    with app.app_context():
        therapist_id = db.session.scalar(select(Therapist.id).where(Therapist.email == staff.email))
    try:
        with serve(app) as base:
            yield MountedHost(app, base, client, therapist_id, staff.name, staff.email)
    finally:
        with app.app_context():
            host_db.session.remove()
            host_db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on a free port of 127.0.0.1, on a migrated SQLite database of its own."""
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'browser.sqlite3'}"
    migrate_to_head(url, folder)
    app = create_app(base_config(url, folder), instance_path=str(folder / "instance"))
    app.test_client_class = Client
    try:
        with serve(app) as base:
            yield LiveServer(app, base)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def add_therapist(app: Flask, name: str, email: str, *, admin: bool = False) -> Therapist:
    with app.app_context():
        therapist = create_therapist(name, email, PASSWORD, is_admin=admin)
        db.session.commit()
        db.session.refresh(therapist)
        db.session.expunge(therapist)
        return therapist


def add_couple(app: Flask, therapist: Therapist, names: tuple[str, str]) -> int:
    with app.app_context():
        couple = create_couple(
            db.session.get(Therapist, therapist.id),
            CoupleDetails(
                partner_a=PartnerDetails(names[0], "they/them"),
                partner_b=PartnerDetails(names[1], "she/her"),
                relationship_stage=RelationshipStage.MARRIED,
                relationship_length_months=50,
                presenting_concerns="Arguing about evenings apart.",
            ),
        )
        db.session.commit()
        return couple.id


@dataclass
class SeededCouple:
    """A couple with something behind every page, and the paths of those pages."""

    id: int
    name: str
    plan_id: int
    appointment_id: int
    pages: dict[str, str] = field(default_factory=dict)


def seed_full_couple(
    app: Flask,
    therapist: Therapist,
    names: tuple[str, str],
    *,
    issue_plan: bool = True,
    safety_alert: bool = False,
) -> SeededCouple:
    """Intakes, a suggested and a confirmed flag, a plan, two held appointments with check-ins
    (the later one reviews the earlier one's homework; its note is an unsigned draft)."""
    couple_id = add_couple(app, therapist, names)
    safety_a = {**SAFE, "saf_fear": "yes"} if safety_alert else SAFE
    seed_intake(app, couple_id, "A", intake=dict(TWO_FLAGS.a), safety=safety_a)
    seed_intake(app, couple_id, "B", intake=dict(TWO_FLAGS.b))
    with app.app_context():
        _suggested, confirmed, *_ = db.session.scalars(
            select(Flag).where(Flag.couple_id == couple_id).order_by(Flag.id)
        ).all()
        signer = db.session.get(Therapist, therapist.id)
        confirm_flag(confirmed, signer, "Both describe it.", expected_version=confirmed.version)
        db.session.commit()
    client = app.test_client()
    assert login(client, therapist).status_code == 302
    plan_id = new_plan(
        client, couple_id, strategies=["quality_time"], **{"homework-0-text": PLAN_HOMEWORK}
    )
    if issue_plan:
        client.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/plan")
    earlier, later = seed_history(
        app,
        couple_id,
        [
            Visit(csi={"A": 11, "B": 14}, balance={"A": 9, "B": 12}),
            Visit(csi={"A": 13, "B": 15}, balance={"A": 11, "B": 13}),
        ],
    )
    with app.app_context():
        held = db.session.get(Appointment, earlier)
        held.plan_id = plan_id
        save_note(
            held,
            data="Both spoke about evenings.",
            assessment="Engaged.",
            plan="Walks.",
            expected_version=0,
            sign_as=db.session.get(Therapist, therapist.id),
        )
        db.session.commit()
    base = f"/couples/{couple_id}"
    pages = {
        "couple": base,
        "couple-edit": f"{base}/edit",
        **{f"intake-a-{step.slug}": f"{base}/intake/a/{step.slug}" for step in steps()},
        "intake-a-review": f"{base}/intake/a/review",
        "assessment": f"{base}/assessment",
        "plans": f"{base}/plans",
        "plan-new": f"{base}/plans/new",
        "plan": f"{base}/plans/{plan_id}",
        "appointments": f"{base}/appointments",
        "appointment": f"{base}/appointments/{later}",
        "progress": f"{base}/progress",
    }
    return SeededCouple(couple_id, " & ".join(names), plan_id, later, pages)


@dataclass
class World:
    therapist: Therapist
    couple: SeededCouple
    safety_couple: SeededCouple  # an alert on its safety screen awaits the therapist's decision
    pages: dict[str, str]  # name -> path of every main page (support.MAIN_PAGES)


@pytest.fixture(scope="session")
def world(live_server: LiveServer) -> World:
    app = live_server.app
    therapist = add_therapist(app, "Dana Whitfield", "dana@example.org", admin=True)
    couple = seed_full_couple(app, therapist, ("Avery", "Jordan"))
    safety = seed_full_couple(
        app, therapist, ("Robin", "Casey"), issue_plan=False, safety_alert=True
    )
    pages = {
        "login": "/login",
        "dashboard": "/",
        "couple-new": "/couples/new",
        **couple.pages,
        "safety-assessment": safety.pages["assessment"],
        "library": "/library",
        "library-detail": "/library/quality_time",
        "library-edit": "/library/quality_time/edit",
        "password": "/account/password",
        "admin-therapists": "/admin/therapists",
        "admin-practice": "/admin/practice",
        "admin-audit": "/admin/audit",
    }
    return World(therapist, couple, safety, pages)


# ------------------------------------------------------------------------------ browser
@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require(CHROMIUM)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, live_server: LiveServer, email: str, password: str = PASSWORD) -> None:
    page.goto(live_server.url("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url("/"))
    assert "Signed in as" in page.locator(".flashes").inner_text()


@pytest.fixture(scope="session")
def signed_in_context(
    browser: Browser, live_server: LiveServer, world: World
) -> Iterator[BrowserContext]:
    """One browser context signed in as the world's therapist (an administrator)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sign_in(page, live_server, world.therapist.email)
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def signed_out_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def tabs(
    signed_in_context: BrowserContext, signed_out_context: BrowserContext
) -> Iterator[dict[bool, Page]]:
    """A tab signed in and one signed out, shared by a module's tests: signed_in -> Page."""
    pages = {True: signed_in_context.new_page(), False: signed_out_context.new_page()}
    try:
        yield pages
    finally:
        for page in pages.values():
            page.close()


OpenPage = Callable[..., Page]


@pytest.fixture(scope="module")
def open_page(tabs: dict[bool, Page], live_server: LiveServer, world: World) -> OpenPage:
    """open_page(name) -> the module's tab showing that main page (support.MAIN_PAGES)."""

    def open_(name: str, viewport: dict[str, int] | None = None) -> Page:
        page = tabs[name not in SIGNED_OUT_PAGES]
        page.set_viewport_size(viewport or VIEWPORT)
        response = page.goto(live_server.url(world.pages[name]))
        assert response is not None and response.status == 200, (name, response)
        return page

    return open_


@pytest.fixture
def signed_in_page(signed_in_context: BrowserContext) -> Iterator[Page]:
    """A tab of its own in the signed-in context, closed after the test."""
    page = signed_in_context.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[BrowserContext]:
    """A context of its own (cookies and all), for a test that signs in as someone else."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    try:
        yield context
    finally:
        context.close()
