"""The warning before the idle sign-out (WCAG 2.2.1), in Chromium, with the keyboard alone.

An app of its own with a short clock (COUNSELOR_IDLE_TIMEOUT of seconds, the warning
COUNSELOR_IDLE_WARNING before it), so no test waits minutes: the dialog opens with focus on
"Stay signed in", Enter keeps the session past the first deadline, Escape closes it, the
session's end is then announced; activity in another tab holds the warning back; and staying
signed in never passes the absolute limit. Mounted in a host there is no warning of ours
(tests/test_session_timeout.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from conftest import Client, base_config, migrate_to_head

from .conftest import LiveServer, add_therapist, serve, sign_in
from .support import VIEWPORT, axe_source, run_axe

pytestmark = pytest.mark.browser

IDLE = 20  # seconds
WARNING = 15  # so the dialog opens 5 s after a page
PAGE = "/couples/new"


@pytest.fixture(scope="module")
def short_clock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app with a clock of seconds, on a database of its own."""
    from counselor_app import create_app
    from counselor_app.extensions import db

    folder = tmp_path_factory.mktemp("session-timeout")
    url = f"sqlite:///{folder / 'clock.sqlite3'}"
    migrate_to_head(url, folder)
    config = {
        **base_config(url, folder),
        "COUNSELOR_IDLE_TIMEOUT": timedelta(seconds=IDLE),
        "COUNSELOR_IDLE_WARNING": timedelta(seconds=WARNING),
    }
    app = create_app(config, instance_path=str(folder / "instance"))
    app.test_client_class = Client
    try:
        with serve(app) as base:
            yield LiveServer(app, base)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def context(browser: Browser, short_clock: LiveServer) -> Iterator[BrowserContext]:
    """A therapist of the test's own, signed in just now in a context of its own."""
    email = f"clock{time.monotonic_ns()}@example.org"
    add_therapist(short_clock.app, "Sol Mendes", email)
    context = browser.new_context(viewport=VIEWPORT)
    sign_in(context.new_page(), short_clock, email)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def absolute_limit(short_clock: LiveServer) -> Iterator[int]:
    """Sessions last 24 s at most for this test (it runs before its `context` signs in)."""
    config = short_clock.app.config
    previous = config["COUNSELOR_ABSOLUTE_TIMEOUT"]
    config["COUNSELOR_ABSOLUTE_TIMEOUT"] = timedelta(seconds=IDLE + 4)
    try:
        yield IDLE + 4
    finally:
        config["COUNSELOR_ABSOLUTE_TIMEOUT"] = previous


def dialog(page: Page):
    return page.get_by_role("dialog")


def open_page(context: BrowserContext, server: LiveServer) -> tuple[Page, float]:
    page = context.new_page()
    page.goto(server.url(PAGE))
    return page, time.monotonic()


def signed_in_on_reload(page: Page) -> bool:
    page.reload()
    return "/login" not in page.url


def test_enter_on_stay_signed_in_keeps_the_session(context, short_clock):
    page, loaded = open_page(context, short_clock)
    warning = dialog(page)
    expect(warning).to_be_visible(timeout=(IDLE - WARNING + 3) * 1000)
    expect(warning).to_have_accessible_name("Your session is about to end")
    expect(warning).to_contain_text("Without activity you will be signed out in")
    stay = warning.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()
    assert run_axe(page, axe_source())["violations"] == []
    page.keyboard.press("Enter")
    expect(warning).to_be_hidden()
    # Past the deadline the page had when it opened: still signed in.
    time.sleep(max(0, loaded + IDLE + 2 - time.monotonic()))
    assert signed_in_on_reload(page)


def test_escape_closes_the_warning_and_the_end_is_announced(context, short_clock):
    page, _ = open_page(context, short_clock)
    field = page.locator("#partner_a-display_name")
    field.focus()
    warning = dialog(page)
    expect(warning).to_be_visible(timeout=(IDLE - WARNING + 3) * 1000)
    page.keyboard.press("Escape")
    expect(warning).to_be_hidden()
    expect(field).to_be_focused()  # back where the therapist was
    # The time runs out: the page says so, and offers to sign in again, back to this page.
    expect(warning).to_be_visible(timeout=(WARNING + 4) * 1000)
    expect(warning).to_have_accessible_name("You have been signed out")
    expect(warning).to_contain_text("signed out after")
    expect(warning).to_contain_text("What you typed is still on this page")
    expect(warning.get_by_role("button", name="Stay signed in")).to_be_hidden()
    again = warning.get_by_role("link", name="Sign in again")
    expect(again).to_be_focused()
    assert run_axe(page, axe_source())["violations"] == []
    page.keyboard.press("Enter")
    page.wait_for_url("**/login**")
    assert "signed out after" in page.locator(".flashes").inner_text()


def test_activity_in_another_tab_holds_the_warning_back(context, short_clock):
    page, _ = open_page(context, short_clock)
    other = context.new_page()
    for _ in range(IDLE - WARNING + 4):  # past the time this page would have warned
        other.goto(short_clock.url("/"))
        time.sleep(1)
        assert not page.evaluate("document.getElementById('session-timeout').open")
    other.close()
    expect(dialog(page)).to_be_visible(timeout=(IDLE - WARNING + 3) * 1000)


def test_staying_signed_in_stops_at_the_absolute_limit(absolute_limit, context, short_clock):
    page, _ = open_page(context, short_clock)
    warning = dialog(page)
    expect(warning).to_be_visible(timeout=(IDLE - WARNING + 3) * 1000)
    # Less than the idle window is left before the absolute limit: the dialog says so.
    expect(warning).to_contain_text("at the latest: the session then ends for good")
    page.keyboard.press("Enter")
    # Staying signed in bought time up to the absolute limit only, so the warning is back,
    # with nothing left to extend.
    expect(warning).to_be_visible(timeout=6000)
    expect(warning).to_contain_text("Your session ends for good at")
    expect(warning.get_by_role("button", name="Stay signed in")).to_be_hidden()
    expect(warning).to_have_accessible_name("You have been signed out", timeout=20_000)
    expect(warning).to_contain_text("signed in for")
    assert not signed_in_on_reload(page)
