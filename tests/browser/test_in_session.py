"""The details that matter with a couple in the room: nothing typed is lost without a warning,
drafts save themselves and say so, confirmations say what happened, every page prints, titles
name the couple and the page, and a pending safety alert shows on every page of the couple."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from appointment_support import Visit, seed_history
from counselor_app.extensions import db
from counselor_app.intake.services import steps
from counselor_app.models import Appointment

from .conftest import add_couple
from .support import COUPLE_PAGES, MAIN_PAGES

pytestmark = pytest.mark.browser


@dataclass
class OwnCouple:
    """A couple of the world's therapist that these tests may change: no intake yet, one
    held appointment with no note."""

    id: int
    name: str
    appointment_id: int


@pytest.fixture(scope="module")
def own_couple(live_server, world) -> OwnCouple:
    couple_id = add_couple(live_server.app, world.therapist, ("Morgan", "Riley"))
    (appointment_id,) = seed_history(live_server.app, couple_id, [Visit()])
    return OwnCouple(couple_id, "Morgan & Riley", appointment_id)


def record_dialogs(page: Page) -> list[str]:
    """Accept every dialog the page opens (leaving the page), and list their kinds."""
    seen: list[str] = []

    def handle(dialog) -> None:
        seen.append(dialog.type)
        dialog.accept()

    page.on("dialog", handle)
    return seen


def test_leaving_a_form_with_unsaved_edits_warns_first(signed_in_page, live_server, own_couple):
    page = signed_in_page
    dialogs = record_dialogs(page)
    edit = live_server.url(f"/couples/{own_couple.id}/edit")
    couples = page.get_by_role("navigation", name="Main").get_by_role("link", name="Couples")

    page.goto(edit)
    couples.click()  # nothing typed: no question asked
    page.wait_for_url(live_server.url("/"))
    assert dialogs == []

    page.goto(edit)
    page.get_by_label("Presenting concerns").press_sequentially(" Mornings too.")
    couples.click()
    page.wait_for_url(live_server.url("/"))
    assert dialogs == ["beforeunload"]

    # Sending the form is not leaving it: no warning, and the edit is saved.
    page.goto(edit)
    page.get_by_label("Presenting concerns").press_sequentially(" Weekends as well.")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(live_server.url(f"/couples/{own_couple.id}"))
    assert dialogs == ["beforeunload"]
    # (c) The confirmation says what happened, to whom.
    expect(page.locator(".flashes[role=status]")).to_have_text("Couple saved.")
    expect(page.locator("main")).to_contain_text("Weekends as well.")


def test_the_session_note_saves_itself_and_says_so(signed_in_page, live_server, own_couple):
    page = signed_in_page
    dialogs = record_dialogs(page)
    page.goto(live_server.url(f"/couples/{own_couple.id}/appointments/{own_couple.appointment_id}"))
    status = page.locator("#note .autosave-status")
    expect(status).to_have_attribute("aria-live", "polite")
    page.get_by_label("Data", exact=True).press_sequentially("Both arrived early and calm.")
    expect(status).to_have_text("Unsaved changes…")
    expect(status).to_have_text(re.compile(r"^Draft saved at \d{1,2}[:.]\d\d"), timeout=10_000)
    with live_server.app.app_context():
        note = db.session.get(Appointment, own_couple.appointment_id).note
        assert note is not None and note.data == "Both arrived early and calm."
        db.session.remove()
    # Saved, so leaving asks nothing.
    page.get_by_role("link", name="Full progress").click()
    page.wait_for_url(re.compile(r"/progress$"))
    assert dialogs == []


def test_intake_answers_save_themselves_and_say_so(signed_in_page, live_server, own_couple):
    page = signed_in_page
    page.goto(live_server.url(f"/couples/{own_couple.id}/intake/b/background"))
    status = page.locator("#autosave-status")
    page.locator("textarea[name=bg_goals]").focus()
    page.keyboard.type("To argue less about evenings.")
    expect(status).to_have_text(re.compile(r"Draft saved.*\d"), timeout=10_000)
    page.reload()
    expect(page.locator("textarea[name=bg_goals]")).to_have_value("To argue less about evenings.")


def test_confirmations_say_what_happened(signed_in_page, live_server, own_couple):
    page = signed_in_page
    page.goto(live_server.url("/couples/new"))
    page.get_by_role("group", name="Partner A").get_by_label("Name").fill("Quinn")
    page.get_by_role("group", name="Partner B").get_by_label("Name").fill("Harper")
    page.get_by_label("Engaged").check()
    page.get_by_role("button", name="Add couple").click()
    expect(page.locator(".flashes[role=status]")).to_have_text("Couple added.")
    expect(page).to_have_title(re.compile("Quinn & Harper"))

    page.goto(live_server.url(f"/couples/{own_couple.id}/appointments/{own_couple.appointment_id}"))
    page.get_by_label("Assessment", exact=True).fill("Settled.")
    page.locator("#note").get_by_role("button", name="Save draft").click()
    expect(page.locator(".flashes[role=status]")).to_have_text("Note saved as a draft.")


PRINT_LAYOUT = """() => {
  const shown = el => el && getComputedStyle(el).display !== 'none' && el.getClientRects().length;
  const printRules = [...document.styleSheets].flatMap(sheet => [...sheet.cssRules])
    .filter(rule => rule instanceof CSSMediaRule && rule.media.mediaText.includes('print'));
  return {
    printRules: printRules.length,
    header: !!shown(document.querySelector('.site-header')),
    skip: !!shown(document.querySelector('.skip-link')),
    main: !!shown(document.querySelector('main')) && document.querySelector('main').innerText.length,
    buttons: [...document.querySelectorAll('main button')].filter(shown).map(b => b.innerText),
  };
}"""


def test_every_main_page_prints_without_the_site_chrome(open_page):
    problems = []
    for name in MAIN_PAGES:
        page = open_page(name)
        page.emulate_media(media="print")
        try:
            found = page.evaluate(PRINT_LAYOUT)
        finally:
            page.emulate_media(media="screen")
        if not found["printRules"]:
            problems.append(f"{name}: no print stylesheet")
        if found["header"] or found["skip"]:
            problems.append(f"{name}: the site header or skip link prints")
        if not found["main"]:
            problems.append(f"{name}: the main content does not print")
        if found["buttons"]:
            problems.append(f"{name}: buttons print: {found['buttons']}")
    assert not problems, "\n  ".join(problems)


# What each page of a couple is called in its title (besides the couple's name).
PAGE_TITLES = {
    "couple": "Overview",
    "couple-edit": "Edit",
    **{f"intake-a-{s.slug}": f"{s.section.title} · Avery's intake" for s in steps()},
    "intake-a-review": "Review · Avery's intake",
    "assessment": "Assessment",
    "plans": "Session plans",
    "plan-new": "New session plan",
    "plan": "Session plan",
    "appointments": "Appointments",
    "appointment": "Appointment",
    "progress": "Progress",
}


def test_page_titles_name_the_couple_and_the_page(open_page, world):
    assert set(PAGE_TITLES) == set(COUPLE_PAGES)
    problems = []
    for name, words in PAGE_TITLES.items():
        title = open_page(name).title()
        if world.couple.name not in title or words not in title:
            problems.append(f"{name}: “{title}” (expected “{words}” and “{world.couple.name}”)")
    assert not problems, "\n  ".join(problems)


def test_a_pending_safety_alert_shows_on_every_page_of_the_couple(tabs, live_server, world):
    page = tabs[True]
    for name, path in world.safety_couple.pages.items():
        page.goto(live_server.url(path))
        banner = page.locator(".safety-banner")
        expect(banner, name).to_be_visible()
        expect(banner, name).to_contain_text("An item needs your review")
        # Worded so that a partner glancing at the screen learns nothing.
        assert "safety" not in banner.inner_text().lower(), name
    page.goto(live_server.url(world.couple.pages["couple"]))
    expect(page.locator(".safety-banner")).to_have_count(0)
