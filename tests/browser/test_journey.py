"""A therapist's first sessions with a couple, start to finish, in a real Chromium.

A new therapist signs in, adds a couple, enters both partners' intakes with the keyboard alone
(Tab, Space, the arrow keys and Enter, as a therapist in session would), confirms a flag, builds
a session plan, downloads the plan and the handout as PDFs, records two appointments with both
partners' check-ins and the homework review, signs the session note, and sees the progress chart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from appointment_support import balance_answers, csi_answers
from counselor_app.flags import CHALLENGES
from counselor_app.intake.services import steps
from intake_support import CSI_DISTRESSED, CSI_SATISFIED
from plan_support import pdf_text
from vignettes import SAFE, VIGNETTES, on_intake_v2

from .conftest import add_therapist, sign_in
from .support import describe, focused

pytestmark = pytest.mark.browser

STORY = next(v for v in VIGNETTES if v.name == "pursue_withdraw")
FLAG = "mismatched_needs"
PARTNERS = ("Sasha", "Noor")
COUPLE = "Sasha & Noor"
# Free-text answers, typed as the partners say them.
TYPED = {
    "A": {"bg_goals": "More evenings that feel chosen.", "end_anything_else": "Nothing else."},
    "B": {"bg_goals": "Room to breathe without a fight."},
}
HOMEWORK = "Plan one evening apart and one together; talk about both."


def intake_answers(label: str) -> dict[str, str]:
    intake = on_intake_v2(STORY.a if label == "A" else STORY.b)
    csi = CSI_SATISFIED if label == "A" else CSI_DISTRESSED
    answers = {**intake, **csi, **SAFE, **TYPED[label]}
    return {key: str(value) for key, value in answers.items()}


# ------------------------------------------------------------------------------ keyboard
def choose_radio(page: Page, at: dict[str, Any], value: str) -> None:
    """Focus is on one radio of a group: move to ``value`` with the arrow keys (which also
    choose), or press Space when focus is already on it."""
    values = page.evaluate(
        "name => [...document.getElementsByName(name)].map(radio => radio.value)", at["name"]
    )
    steps_to_go = values.index(value) - values.index(at["value"])
    if steps_to_go == 0:
        page.keyboard.press("Space")
    for _ in range(abs(steps_to_go)):
        page.keyboard.press("ArrowRight" if steps_to_go > 0 else "ArrowLeft")


def answer_page_by_keyboard(page: Page, answers: dict[str, str]) -> None:
    """Tab from the top of the page through every question, answering those in ``answers``,
    to the "Save and continue" (or "Save and review") button, and press Enter on it."""
    questions = set(
        page.eval_on_selector_all(
            ".intake-form [name]:not([type=hidden]):not(button)", "els => els.map(e => e.name)"
        )
    )
    assert questions, page.url
    answered: set[str] = set()
    for _ in range(200):
        page.keyboard.press("Tab")
        at = focused(page)
        assert at is not None, f"focus left the page on {page.url}"
        name = at["name"]
        if at["tag"] == "button" and at["value"] == "next":
            break
        if name not in answers or name in answered:
            continue
        if at["type"] == "radio":
            choose_radio(page, at, answers[name])
        else:  # a number of hours, or free text
            page.keyboard.press("ControlOrMeta+A")
            page.keyboard.type(answers[name])
        answered.add(name)
    else:
        raise AssertionError(f"Tab never reached the continue button on {page.url}")
    expected = {name for name in questions if name in answers}
    assert answered == expected, (page.url, sorted(expected - answered))
    assert questions <= set(answers) | {"bg_goals", "pres_notes", "end_anything_else", "saf_notes"}
    # What the page will send is what was meant.
    for name in expected:
        sent = page.evaluate(
            """name => { const els = [...document.getElementsByName(name)];
                 const radio = els.find(el => el.type === 'radio' && el.checked);
                 return radio ? radio.value : els[0].value; }""",
            name,
        )
        assert sent == answers[name], (page.url, name, sent)
    status = page.locator("#autosave-status")
    if status.count():  # a background save in flight would make this save a conflict
        expect(status).not_to_have_text("Saving…")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def tab_to(page: Page, text: str, limit: int = 100) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        at = focused(page)
        if at is not None and at["text"] == text:
            return
    raise AssertionError(f"Tab never reached “{text}” on {page.url}; last: {describe(at)}")


def enter_intake_by_keyboard(page: Page, label: str, name: str) -> None:
    answers = intake_answers(label)
    for step in steps():
        expect(page.locator(".intake-form h2")).to_have_text(step.section.title)
        expect(page).to_have_title(re.compile(re.escape(f"{name}'s intake · {COUPLE}")))
        answer_page_by_keyboard(page, answers)
        expect(page.locator(".flashes")).to_have_text(f"Answers saved for partner {label}.")
    expect(page.get_by_role("heading", name="Review and complete")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Every required question has an answer.")
    tab_to(page, f"Mark {name}'s intake complete")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".flashes")).to_have_text(f"Partner {label}'s intake is complete.")


# ------------------------------------------------------------------------------ the journey
def download(page: Page, link_name: re.Pattern[str], folder: Path) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    content = path.read_bytes()
    assert content.startswith(b"%PDF-"), content[:20]
    return content


def add_appointment(page: Page, when: str, plan: str | None) -> None:
    page.get_by_label("Date and time").fill(when)
    page.get_by_role("radio", name="Completed").check()
    page.get_by_role("radio", name="Both partners").check()
    if plan:
        page.get_by_label("Session plan used").select_option(label=plan)
    page.get_by_role("button", name="Add appointment").click()
    expect(page.locator(".flashes")).to_have_text("Appointment added.")


def check_in(page: Page, label: str, name: str, csi: int, balance: int) -> None:
    section = page.locator(f"#check-in-{label.lower()}")
    for item, value in {**csi_answers(csi), **balance_answers(balance)}.items():
        section.locator(f"input[name='checkin-{label.lower()}-{item}'][value='{value}']").check()
    section.get_by_role("button", name=f"Save {name}'s check-in").click()
    expect(page.locator(".flashes")).to_have_text(f"Partner {label}'s check-in saved.")
    expect(page.locator(f"#check-in-{label.lower()} h3").first).to_contain_text(f"(total {csi})")


def test_a_first_session_from_sign_in_to_progress(new_context, live_server, tmp_path):
    therapist = add_therapist(live_server.app, "Imogen Hart", "imogen@example.org")
    page = new_context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))

    # Sign in through the login page.
    sign_in(page, live_server, therapist.email)
    expect(page.locator("main")).to_contain_text("You have no active couples yet.")

    # A couple.
    page.get_by_role("link", name="Add the first one").click()
    page.get_by_role("group", name="Partner A").get_by_label("Name").fill(PARTNERS[0])
    page.get_by_role("group", name="Partner A").get_by_label("Pronouns").fill("she/her")
    page.get_by_role("group", name="Partner B").get_by_label("Name").fill(PARTNERS[1])
    page.get_by_label("Cohabiting").check()
    page.get_by_label("Years together").fill("3")
    page.get_by_label("Presenting concerns").fill("Evenings: one wants more together, one less.")
    page.get_by_role("button", name="Add couple").click()
    expect(page.locator(".flashes")).to_have_text("Couple added.")
    couple_url = page.url

    # Both intakes, keyboard only.
    for label, name in zip(("A", "B"), PARTNERS, strict=True):
        page.get_by_role("link", name=f"Enter {name}'s intake").click()
        enter_intake_by_keyboard(page, label, name)
        assert page.url == couple_url
    expect(page.locator(".intake-status")).to_contain_text("✓ complete", ignore_case=False)

    # The assessment: confirm the flag the answers raise.
    page.get_by_role("link", name="Assessment and flags").click()
    title = CHALLENGES[FLAG][0]
    flag = page.locator("article.flag", has=page.get_by_role("heading", name=title))
    expect(flag.locator(".hits li").first).to_be_visible()  # the answers that raised it
    flag.get_by_label("Note (optional)").fill("Both described the evening standoff.")
    flag.get_by_role("button", name="Confirm").click()
    expect(page.locator(".flashes")).to_have_text("Flag confirmed.")
    confirmed = page.locator("h3.group-heading", has_text="Confirmed")
    expect(confirmed).to_have_text("Confirmed (1)")
    expect(flag.locator(".decision")).to_contain_text("Confirmed by Imogen Hart")

    # A session plan from the confirmed flag.
    page.goto(couple_url)
    page.get_by_role("link", name="Session plans and handouts").click()
    page.get_by_role("link", name="New session plan").click()
    expect(page.get_by_role("checkbox", name=re.compile(re.escape(title)))).to_be_checked()
    page.get_by_label("Goals", exact=True).fill("Name the pattern together.")
    empty_row = page.locator(".homework-row textarea").filter(has_text=re.compile("^$")).first
    empty_row.fill(HOMEWORK)
    page.get_by_role("button", name="Save plan").click()
    expect(page.locator(".flashes")).to_have_text("Session plan saved.")
    expect(page.locator("main")).to_contain_text(HOMEWORK)

    # The plan and the handout as PDFs: issued, then downloaded from the plan's page.
    page.get_by_role("button", name="Issue session plan PDF").click()
    expect(page.locator(".flashes")).to_have_text("Session plan issued as version 1.")
    plan_pdf = download(page, re.compile(r"^Session plan \(session-plan-"), tmp_path)
    page.get_by_role("button", name="Issue handout PDF").click()
    expect(page.locator(".flashes")).to_have_text("Client handout issued as version 1.")
    handout_pdf = download(page, re.compile(r"^Client handout \(handout-"), tmp_path)
    plan_text, handout_text = pdf_text(plan_pdf), pdf_text(handout_pdf)
    assert PARTNERS[0] in plan_text and title in plan_text
    squeezed = " ".join(handout_text.split())
    assert "one evening apart and one together" in squeezed
    assert title not in handout_text  # the couple's handout names no flag

    # The first appointment, with the plan, and both partners' check-ins.
    page.goto(couple_url)
    page.get_by_role("link", name="Appointments").click()
    plan_label = page.get_by_label("Session plan used").locator("option").nth(1).inner_text()
    add_appointment(page, "2026-03-02T17:00", plan_label)
    check_in(page, "A", PARTNERS[0], csi=12, balance=9)
    check_in(page, "B", PARTNERS[1], csi=9, balance=11)

    # A week later: the homework of that plan is reviewed, check-ins again, the note signed.
    page.get_by_role("link", name="Appointments", exact=True).click()
    add_appointment(page, "2026-03-09T17:00", None)
    homework = page.locator("#homework")
    expect(homework.locator("legend", has_text=HOMEWORK)).to_be_visible()
    row = homework.locator(".homework-row", has_text=HOMEWORK)
    row.get_by_role("group", name=PARTNERS[0]).get_by_label("Done", exact=True).check()
    row.get_by_role("group", name=PARTNERS[1]).get_by_label("Partly").check()
    row.get_by_label(f"Note about {PARTNERS[1]} (optional)").fill("Skipped the talk.")
    homework.get_by_role("button", name="Save homework review").click()
    expect(page.locator(".flashes")).to_have_text("Homework review saved: 2 outcomes recorded.")
    check_in(page, "A", PARTNERS[0], csi=15, balance=13)
    check_in(page, "B", PARTNERS[1], csi=11, balance=12)
    note = page.locator("#note")
    note.get_by_label("Data", exact=True).fill("Both named the evening standoff.")
    note.get_by_label("Assessment", exact=True).fill("Pattern recognised by both.")
    note.get_by_label("Plan", exact=True).fill("Keep the weekly evenings plan.")
    note.get_by_role("button", name="Sign and lock this note").click()
    expect(page.locator(".flashes")).to_have_text("Note signed and locked.")
    expect(note).to_contain_text("Signed by Imogen Hart")
    expect(note.get_by_label("Data", exact=True)).to_have_count(0)  # locked: no field left

    # Progress: both partners on one chart per measure.
    page.get_by_role("link", name="Full progress").click()
    expect(page).to_have_title(re.compile(f"^Progress · {COUPLE}"))
    charts = page.locator("figure.chart svg")
    expect(charts).to_have_count(2)
    csi_chart = charts.first
    for name in PARTNERS:
        expect(csi_chart).to_contain_text(name)  # the legend names each partner's series
    # A line for each partner and one for the distress cut-off; each dot names its partner.
    for serie in range(3):
        expect(csi_chart.locator(f"g.series.serie-{serie} path.line").first).to_be_attached()
    dots = csi_chart.evaluate("svg => [...svg.querySelectorAll('title')].map(t => t.textContent)")
    for name, scores in zip(PARTNERS, ((12, 15), (9, 11)), strict=True):
        for score in scores:
            assert any(re.fullmatch(rf"{name}, .+: {score}", dot) for dot in dots), (name, dots)
    expect(page.locator("main")).to_contain_text("Distress cut-off (13.5)")
    table = page.locator("section.measure").first.locator("table").first
    expect(table.locator("tr", has_text=PARTNERS[0])).to_contain_text("+3")
    expect(table.locator("tr", has_text=PARTNERS[1])).to_contain_text("▼ distressed")
    homework_table = page.locator("section", has=page.get_by_role("heading", name="Homework"))
    expect(homework_table.locator("tr", has_text=PARTNERS[0])).to_contain_text("100%")
    expect(homework_table.locator("tr", has_text=PARTNERS[1])).to_contain_text("50%")
    assert dialogs == []  # nothing on the way asked whether to leave unsaved changes
