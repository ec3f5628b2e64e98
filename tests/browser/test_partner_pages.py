"""A partner answering on their own device, in Chromium: standalone and mounted in the host.

The therapist makes a personal link (on the invitation page, or through the pages' form post
from a test client), the partner opens it on a phone (390×844, touch: every answer tapped) or
a laptop (1280×800, clicked) or with the keyboard alone, answers every intake page or the
check-in, and sends. Every partner page (and the therapist's invitation pages) is then checked
where it stands: axe-core finds no violation at all, the Nu HTML Checker no error, nothing
scrolls sideways, and on a phone every answer and button is a 44×44 CSS px touch target.
Screenshots: tests/artifacts/screenshots/partner-*.png and invitations-*.png.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, expect
from sqlalchemy import delete, select

from conftest import add_couple, login
from counselor_app.extensions import db
from counselor_app.intake.services import responses_of, steps
from counselor_app.models import CheckIn, Couple, Invitation, InvitationState
from counselor_app.models.ratelimit import RateLimitCount
from host_support import PREFIX
from intake_support import CSI_SATISFIED
from partner_support import BALANCE_MIDDLE, invite, path_of
from vignettes import NEUTRAL, SAFE, on_intake_v2

from .conftest import add_therapist, mounted_host, sign_in
from .support import (
    ARTIFACTS,
    AXE_RESULT_KINDS,
    LAYOUT_PROBLEMS,
    VNU,
    assert_valid_html,
    axe_source,
    describe,
    focused,
    require,
    run_axe,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
SIZES = {"phone": PHONE, "laptop": LAPTOP}
TOUCH_TARGET = 44  # CSS px, each way (WCAG 2.5.5, and Apple's and Google's guides)
SCREENSHOTS = ARTIFACTS / "screenshots"
TIMEOUT = 10_000  # ms: a page of ours that takes longer is a failure, not a wait

STEPS = steps()
INTAKE_ANSWERS: dict[str, str] = {
    key: str(value)
    for key, value in {
        **on_intake_v2(NEUTRAL),
        **CSI_SATISFIED,
        **SAFE,
        "end_anything_else": "Nothing else for now.",
    }.items()
}
CHECK_IN_ANSWERS = {key: str(value) for key, value in {**CSI_SATISFIED, **BALANCE_MIDDLE}.items()}
# A link nobody was given: the shape of a real one (43 URL-safe characters).
WRONG_TOKEN = "Wr0ngL1nk" + "x" * 34

# Every state of a partner's pages that the page checks visit, in the order they do.
PARTNER_PAGES = (
    "unavailable",
    "welcome",
    "finish-missing",
    "not-found",
    f"intake-{STEPS[0].slug}",
    "intake-error",
    *(f"intake-{step.slug}" for step in STEPS[1:]),
    "paused",
    "welcome-again",
    "finish-ready",
    "done",
    "welcome-check-in",
    "check-in",
    "check-in-errors",
    "too-many-attempts",
)
THERAPIST_PAGES = ("couple", "invitation-form", "invitation-form-errors", "invitation-delivery")


# ------------------------------------------------------------------------------ the two sites
@dataclass
class Site:
    """The app as a partner and their therapist reach it: standalone, or mounted in a host."""

    name: str
    app: Flask
    base: str  # http://127.0.0.1:port
    prefix: str  # "" standalone, "/couples-therapy" mounted
    client: Any  # the therapist, signed in, as a test client (for links made by the service)
    therapist_id: int
    therapist_name: str
    sign_in: Callable[[Page], None]  # the therapist signs in in a browser tab
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, path: str) -> str:
        return f"{self.base}{self.prefix}{path}"

    def new_couple(self) -> tuple[int, tuple[str, str]]:
        number = next(self.numbers)
        names = (f"Avery{number}", f"Jordan{number}")
        return add_couple(self.app, self.therapist_id, names), names

    def link(self, couple_id: int, label: str, purpose: str = "intake") -> str:
        """A link made by posting the invitation form, as served by the live server."""
        _, link = invite(self.client, couple_id, label, purpose=purpose, prefix=self.prefix)
        return self.base + path_of(link)

    def forget_wrong_links(self) -> None:
        """Empty the rate limiter's counts, so wrong links tried so far hold nobody up."""
        with self.app.app_context(), db.engine.begin() as connection:
            connection.execute(delete(RateLimitCount.__table__))


@pytest.fixture(scope="module")
def standalone_site(live_server) -> Site:
    app = live_server.app
    therapist = add_therapist(app, "Priya Natarajan", "priya@example.org")
    client = app.test_client()
    assert login(client, therapist).status_code == 302
    return Site(
        "standalone",
        app,
        live_server.base,
        "",
        client,
        therapist.id,
        therapist.name,
        lambda page: sign_in(page, live_server, therapist.email),
    )


@pytest.fixture(scope="module")
def mounted_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The reference host with the package under /couples-therapy, on a live server."""
    with mounted_host(tmp_path_factory, "mounted-browser") as host:
        yield Site(
            "mounted",
            host.app,
            host.base,
            PREFIX,
            host.client,
            host.therapist_id,
            host.staff_name,
            host.sign_in,
        )


SITE_NAMES = ("standalone", "mounted")


@pytest.fixture(params=SITE_NAMES)
def site(request: pytest.FixtureRequest) -> Site:
    return request.getfixturevalue(f"{request.param}_site")


@pytest.fixture(scope="module")
def therapist_tabs(browser: Browser) -> Iterator[Callable[[Site], Page]]:
    """therapist_tabs(site): a laptop tab signed in as that site's therapist (kept)."""
    contexts: dict[str, BrowserContext] = {}
    tabs: dict[str, Page] = {}

    def tab(site: Site) -> Page:
        if site.name not in tabs:
            contexts[site.name] = browser.new_context(viewport=LAPTOP)
            contexts[site.name].set_default_timeout(TIMEOUT)
            tabs[site.name] = contexts[site.name].new_page()
            site.sign_in(tabs[site.name])
        tabs[site.name].set_viewport_size(LAPTOP)
        return tabs[site.name]

    try:
        yield tab
    finally:
        for context in contexts.values():
            context.close()


def partner_context(browser: Browser, size: str) -> BrowserContext:
    """A partner's own browser: a phone with a touch screen, or a laptop with a mouse."""
    if size == "phone":
        context = browser.new_context(
            viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2
        )
    else:
        context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(TIMEOUT)
    return context


@pytest.fixture
def partner_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab in a fresh partner browser of the size the test is parametrized with."""
    context = partner_context(browser, request.node.callspec.params.get("size", "laptop"))
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


# ------------------------------------------------------------------------------ doing things
def press(page: Page, control: Locator, *, tap: bool) -> Response:
    """Tap or click a control that leads to another page; the response that page came in."""
    with page.expect_navigation() as navigation:
        if tap:
            control.tap()
        else:
            control.click()
    response = navigation.value
    assert response is not None, page.url
    return response


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def choice(page: Page, name: str, value: str) -> Locator:
    """The label of one answer: the whole box a finger or a mouse chooses it by."""
    return page.locator(f"label.choice:has(input[name='{name}'][value='{value}'])")


def answer(page: Page, answers: dict[str, str], *, tap: bool) -> list[str]:
    """Answer every question on the page that ``answers`` has, as a person would: tap or
    click the answer's label, or tap the box and type. The names answered, in order."""
    names = page.eval_on_selector_all(
        "main form [name]:not([type=hidden]):not(button)", "els => els.map(el => el.name)"
    )
    done: list[str] = []
    for name in dict.fromkeys(names):
        if name not in answers:
            continue
        value = answers[name]
        radio = page.locator(f"input[type=radio][name='{name}']")
        if radio.count():
            label = choice(page, name, value)
            label.tap() if tap else label.click()
            expect(page.locator(f"input[name='{name}'][value='{value}']")).to_be_checked()
        else:
            box = page.locator(f"[name='{name}']")
            box.tap() if tap else box.click()
            box.fill(value)
        done.append(name)
    return done


def fill_quickly(page: Page, answers: dict[str, str]) -> None:
    """Set the page's answers at once (the page checks are about pages, not fingers)."""
    page.evaluate(
        """answers => {
             for (const [name, value] of Object.entries(answers)) {
               for (const el of document.getElementsByName(name)) {
                 if (el.type === 'radio') el.checked = el.value === value;
                 else if (el.tagName !== 'BUTTON') el.value = value;
               }
             }
           }""",
        answers,
    )


def sent_values(page: Page, names: list[str]) -> dict[str, str]:
    return page.evaluate(
        """names => Object.fromEntries(names.map(name => {
             const els = [...document.getElementsByName(name)];
             const radio = els.find(el => el.type === 'radio' && el.checked);
             return [name, radio ? radio.value : (els[0] || {}).value];
           }))""",
        names,
    )


def make_link_in_browser(page: Page, site: Site, couple_id: int, name: str, purpose: str) -> str:
    """The therapist makes the link on the invitation page; the link shown once, read back."""
    page.goto(site.url(f"/couples/{couple_id}"))
    page.get_by_role("link", name="Invite a partner to answer").click()
    page.get_by_role("group", name="Who answers").get_by_label(name).check()
    page.get_by_role("group", name="What they answer").get_by_label(
        "Intake:" if purpose == "intake" else "Check-in:"
    ).check()
    response = press(page, page.get_by_role("button", name="Make the link"), tap=False)
    assert response.status == 201, response.status
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{name}'s personal link")
    link = page.locator("input#personal-link").input_value()
    assert link.startswith(site.url("/answer/")), link
    return link


def open_link(page: Page, site: Site, link: str) -> Response:
    """Open the personal link: the token is swapped for a cookie, and the address loses it."""
    token = link.rsplit("/", 1)[1]
    response = page.goto(link)
    assert response is not None and response.status == 200, response
    assert page.url == site.url("/answer/"), page.url
    assert token not in page.url and token not in page.content()
    first = response.request.redirected_from
    assert first is not None and first.url == link
    swap = first.response()
    assert swap is not None and swap.status == 303
    assert swap.headers.get("referrer-policy") == "no-referrer"
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "counselor_partner"]
    assert cookie["httpOnly"] and cookie["path"] == f"{site.prefix}/answer", cookie
    return response


def check_saved(site: Site, couple_id: int, label: str, answers: dict[str, str]) -> None:
    """The record holds what the partner chose, and the invitation is used up."""
    with site.app.app_context():
        couple = db.session.get(Couple, couple_id)
        partner = next(p for p in couple.partners if p.label == label)
        saved = {
            key: str(value)
            for response in responses_of(partner).values()
            for key, value in response.answers.items()
            if value is not None
        }
        (invitation,) = db.session.scalars(
            select(Invitation).where(Invitation.partner_id == partner.id)
        )
        assert invitation.state == InvitationState.COMPLETE
    assert saved == answers, {k: (saved.get(k), v) for k, v in answers.items() if saved.get(k) != v}


# ------------------------------------------------------------------------------ journeys
SIZE_PARAMS = pytest.mark.parametrize("size", list(SIZES))


@SIZE_PARAMS
def test_a_partner_answers_the_intake_on_their_own_device(site, size, partner_page, therapist_tabs):
    """Phone: every answer tapped; laptop: clicked, and the therapist makes the link on the
    invitation page (the phone's link comes from the same form, posted by a test client)."""
    page, tap = partner_page, size == "phone"
    couple_id, names = site.new_couple()
    if size == "laptop":
        link = make_link_in_browser(therapist_tabs(site), site, couple_id, names[0], "intake")
    else:
        link = site.link(couple_id, "A")

    open_link(page, site, link)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {names[0]}")
    expect(page.locator("main")).to_contain_text(f"Only {site.therapist_name} reads your answers")
    press(page, page.get_by_role("link", name="Start"), tap=tap)

    for number, step in enumerate(STEPS, 1):
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_have_text(step.section.title)
        expect(page).to_have_title(re.compile(rf"\(page {number} of {len(STEPS)}\)"))
        if step.slug == "safety":
            # Said once, to this partner alone, with where to turn (the default line here).
            private = page.locator(".partner-private")
            expect(private).to_contain_text(f"Only {site.therapist_name} will read your answers")
            expect(private).to_contain_text(
                "If you are in danger now: Call your local emergency number."
            )
            assert private.inner_text().count("in danger now") == 1
        answered = answer(page, INTAKE_ANSWERS, tap=tap)
        assert answered, step.slug
        if number == 2:
            # Back a page and forward again: both pages keep what was chosen.
            press(page, button(page, "Save and go back"), tap=tap)
            expect(heading).to_have_text(STEPS[0].section.title)
            expect(
                choice(page, "bg_stage", INTAKE_ANSWERS["bg_stage"]).locator("input")
            ).to_be_checked()
            press(page, button(page, "Save and continue"), tap=tap)
            expect(heading).to_have_text(step.section.title)
        assert sent_values(page, answered) == {name: INTAKE_ANSWERS[name] for name in answered}
        last = number == len(STEPS)
        next_name = "Save and check my answers" if last else "Save and continue"
        response = press(page, button(page, next_name), tap=tap)
        assert response.status == 200, (step.slug, response.status)

    expect(page.get_by_role("heading", level=1)).to_have_text("Send your answers")
    response = press(page, button(page, "Send my answers"), tap=tap)
    assert page.url == site.url("/answer/done") and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    check_saved(site, couple_id, "A", INTAKE_ANSWERS)

    # The link is used up, and the pages closed with it: the same neutral page for both.
    for address in (site.url("/answer/"), link):
        closed = page.goto(address)
        assert closed is not None and closed.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot be opened")
    site.forget_wrong_links()

    # The therapist sees it on the couple's page.
    couple_page = site.client.get(f"{site.prefix}/couples/{couple_id}").get_data(as_text=True)
    assert "✓ complete" in couple_page
    assert f"answered by {names[0]} on their own device" in couple_page


@SIZE_PARAMS
def test_a_partner_sends_a_check_in_between_sessions(site, size, partner_page, therapist_tabs):
    page, tap = partner_page, size == "phone"
    couple_id, names = site.new_couple()
    if size == "laptop":
        link = make_link_in_browser(therapist_tabs(site), site, couple_id, names[1], "check_in")
    else:
        link = site.link(couple_id, "B", purpose="check_in")
    open_link(page, site, link)
    expect(page.locator("main")).to_contain_text("a short check-in")
    press(page, page.get_by_role("link", name="Start"), tap=tap)
    assert page.url == site.url("/answer/check-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your check-in")
    answered = answer(page, CHECK_IN_ANSWERS, tap=tap)
    assert sorted(answered) == sorted(CHECK_IN_ANSWERS)
    press(page, button(page, "Send my check-in"), tap=tap)
    assert page.url == site.url("/answer/done")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    with site.app.app_context():
        check_ins = db.session.scalars(select(CheckIn).where(CheckIn.couple_id == couple_id)).all()
        answers = {k: str(v) for c in check_ins for k, v in c.answers.items()}
        assert {c.partner_label for c in check_ins} == {"B"}
    assert answers == CHECK_IN_ANSWERS


# ------------------------------------------------------------------------------ keyboard
# Whether the focused element shows where focus is: an outline or a ring.
FOCUS_SHOWN = """() => {
  const style = getComputedStyle(document.activeElement);
  return (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
    || style.boxShadow !== 'none';
}"""


def tab(page: Page, unseen: list[str]) -> dict[str, Any]:
    page.keyboard.press("Tab")
    at = focused(page)
    assert at is not None, f"focus left the page on {page.url}"
    if not page.evaluate(FOCUS_SHOWN):
        unseen.append(f"{page.url}: {describe(at)}")
    return at


def tab_to(page: Page, text: str, unseen: list[str], limit: int = 60) -> None:
    for _ in range(limit):
        if tab(page, unseen)["text"] == text:
            return
    raise AssertionError(f"Tab never reached “{text}” on {page.url}")


def choose_by_arrows(page: Page, at: dict[str, Any], value: str) -> None:
    """Focus is on a radio of a group: the arrow keys move to ``value`` (and choose it), or
    Space chooses the one focused."""
    values = page.evaluate(
        "name => [...document.getElementsByName(name)].map(radio => radio.value)", at["name"]
    )
    moves = values.index(value) - values.index(at["value"])
    if moves == 0:
        page.keyboard.press("Space")
    for _ in range(abs(moves)):
        page.keyboard.press("ArrowRight" if moves > 0 else "ArrowLeft")


def answer_by_keyboard(page: Page, answers: dict[str, str], unseen: list[str]) -> None:
    """Tab through the page answering every question, to the first button; Enter on it."""
    questions = set(
        page.eval_on_selector_all(
            "main form [name]:not([type=hidden]):not(button)", "els => els.map(el => el.name)"
        )
    )
    answered: list[str] = []
    for _ in range(300):
        at = tab(page, unseen)
        if at["tag"] == "button":
            assert at["value"] == "next", describe(at)  # the first button: go on
            break
        name = at["name"]
        if name not in answers or name in answered:
            continue
        if at["type"] == "radio":
            choose_by_arrows(page, at, answers[name])
        else:
            page.keyboard.press("ControlOrMeta+A")
            page.keyboard.type(answers[name])
        answered.append(name)
    else:
        raise AssertionError(f"Tab never reached a button on {page.url}")
    assert set(answered) == questions & set(answers), (page.url, questions - set(answered))
    assert sent_values(page, answered) == {name: answers[name] for name in answered}
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_partner_answers_the_intake_by_keyboard_alone(standalone_site, browser):
    """Laptop size: Tab, Space, the arrow keys and Enter; never the mouse."""
    site = standalone_site
    couple_id, names = site.new_couple()
    link = site.link(couple_id, "B")
    context = partner_context(browser, "laptop")
    page = context.new_page()
    unseen: list[str] = []
    try:
        open_link(page, site, link)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {names[1]}")
        tab_to(page, "Start", unseen)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        for step in STEPS:
            expect(page.get_by_role("heading", level=1)).to_have_text(step.section.title)
            answer_by_keyboard(page, INTAKE_ANSWERS, unseen)
        expect(page.get_by_role("heading", level=1)).to_have_text("Send your answers")
        tab_to(page, "Send my answers", unseen)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    finally:
        context.close()
    check_saved(site, couple_id, "B", INTAKE_ANSWERS)
    assert not unseen, "focus not shown on:\n  " + "\n  ".join(unseen[:20])


# ------------------------------------------------------------------------------ page checks
# Targets a finger must hit: each answer's label (the radio inside is small on purpose: the
# whole label chooses it), buttons, fields, and links that stand alone rather than in a line
# of text (WCAG 2.5.8 exempts those).
SMALL_TARGETS = """min => {
  const small = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.name ? `[name=${el.name}]` : '') + ` “${(el.innerText || el.value || '').trim().slice(0, 40)}”`;
  const selector = 'label.choice, button, .button, input:not([type=hidden]):not([type=radio]), '
    + 'select, textarea, a';
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length || el.matches('.skip-link') || el.closest('.visually-hidden')) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    if (el.matches('a:not(.button)')
        && el.parentElement.textContent.trim() !== el.textContent.trim()) continue;
    const r = el.getBoundingClientRect();
    if (r.width < min - 0.5 || r.height < min - 0.5) {
      small.push(`${name(el)} is ${Math.round(r.width)}×${Math.round(r.height)}`);
    }
  }
  return small;
}"""


@dataclass
class Look:
    """One page as it stood in the browser, and what the checks found on it."""

    name: str
    url: str
    status: int
    problems: list[str]


@dataclass
class Checker:
    """Looks at each page the tours reach: keeps the bytes the server sent (for vnu, once per
    site and page), a full-page screenshot, and every problem axe, the layout and the touch
    targets show."""

    axe: str
    html: dict[tuple[str, str], bytes] = field(default_factory=dict)
    looks: dict[tuple[str, str], list[Look]] = field(default_factory=dict)

    def look(
        self, page: Page, site: Site, size: str, name: str, response: Response | None, status: int
    ) -> None:
        assert response is not None, name
        assert response.status == status, (site.name, size, name, response.status, page.url)
        # A page, not its source shown as text (the thank-you page once was text/plain).
        assert response.headers["content-type"].startswith("text/html"), (name, response.headers)
        self.html.setdefault((site.name, name), response.body())
        viewport = SIZES[size]
        kind = "partner" if name not in THERAPIST_PAGES else "invitations"
        suffix = "" if site.name == "standalone" else "-mounted"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=SCREENSHOTS
            / f"{kind}{suffix}-{name}-{viewport['width']}x{viewport['height']}.png",
            full_page=True,
        )
        problems = list(page.evaluate(LAYOUT_PROBLEMS))
        if size == "phone" and kind == "partner":
            problems += [f"small target: {p}" for p in page.evaluate(SMALL_TARGETS, TOUCH_TARGET)]
        result = run_axe(page, self.axe)
        ran = {rule["id"] for outcome in AXE_RESULT_KINDS for rule in result[outcome]}
        assert {"color-contrast", "target-size", "label"} <= ran, (name, sorted(ran))
        problems += [
            f"axe {v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
            for v in result["violations"]
        ]
        key = (site.name, f"{kind}-{size}")
        self.looks.setdefault(key, []).append(Look(name, page.url, response.status, problems))


def partner_tour(checker: Checker, site: Site, size: str, page: Page) -> None:
    """Every state of a partner's pages, in the order a partner could meet them."""
    tap = size == "phone"

    def look(name: str, response: Response | None, status: int = 200) -> None:
        checker.look(page, site, size, name, response, status)

    couple_id, _ = site.new_couple()
    look("unavailable", page.goto(site.url("/answer/")), 404)
    link = site.link(couple_id, "A")
    look("welcome", page.goto(link))
    look("finish-missing", page.goto(site.url("/answer/intake/finish")))
    look("not-found", page.goto(site.url("/answer/intake/no-such-page")), 404)
    page.goto(site.url("/answer/"))
    look(f"intake-{STEPS[0].slug}", press(page, page.get_by_role("link", name="Start"), tap=tap))
    page.locator("[name=bg_hours_together_now]").fill("500")  # more hours than a week has
    look("intake-error", press(page, button(page, "Save and continue"), tap=tap), 422)
    expect(page.locator(".field-error")).to_contain_text("from 0 to 168")
    for following in STEPS[1:]:
        fill_quickly(page, INTAKE_ANSWERS)
        look(f"intake-{following.slug}", press(page, button(page, "Save and continue"), tap=tap))
    fill_quickly(page, INTAKE_ANSWERS)  # the last page's, saved by "finish later"
    look("paused", press(page, button(page, "Save and finish later"), tap=tap))
    look("welcome-again", page.goto(link))  # the same link, to carry on
    look("finish-ready", press(page, page.get_by_role("link", name="Carry on"), tap=tap))
    look("done", press(page, button(page, "Send my answers"), tap=tap))

    look("welcome-check-in", page.goto(site.link(couple_id, "B", purpose="check_in")))
    look("check-in", press(page, page.get_by_role("link", name="Start"), tap=tap))
    look("check-in-errors", press(page, button(page, "Send my check-in"), tap=tap), 422)
    fill_quickly(page, CHECK_IN_ANSWERS)
    press(page, button(page, "Send my check-in"), tap=tap)

    # Wrong links, one after another from one address, until the limit holds it up.
    wrong = site.url(f"/answer/{WRONG_TOKEN}")
    try:
        for _ in range(50):
            if page.request.get(wrong).status == 429:
                break
        look("too-many-attempts", page.goto(wrong), 429)
    finally:
        site.forget_wrong_links()


def therapist_tour(checker: Checker, site: Site, size: str, page: Page) -> None:
    """The therapist's new pages: the form, the form with errors, the link, the couple's
    page with its table of links."""
    page.set_viewport_size(SIZES[size])

    def look(name: str, response: Response | None, status: int = 200) -> None:
        checker.look(page, site, size, name, response, status)

    couple_id, names = site.new_couple()
    site.link(couple_id, "B", purpose="check_in")
    form = site.url(f"/couples/{couple_id}/invitations/new")
    look("invitation-form", page.goto(form))
    page.get_by_label("Link works for (days)").fill("90")
    look("invitation-form-errors", press(page, button(page, "Make the link"), tap=False), 422)
    page.get_by_role("group", name="Who answers").get_by_label(names[0]).check()
    page.get_by_label("Link works for (days)").fill("7")
    look("invitation-delivery", press(page, button(page, "Make the link"), tap=False), 201)
    look("couple", page.goto(site.url(f"/couples/{couple_id}")))
    expect(page.locator("#invitations tbody tr")).to_have_count(2)


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker(axe_source())


@pytest.fixture(scope="module")
def tours(
    checker: Checker, browser: Browser, therapist_tabs, request: pytest.FixtureRequest
) -> Callable[[str, str, str], list[Look]]:
    """tours(site, kind, size): the looks of that tour, run once and kept (a tour that
    failed fails again at once for the next test that needs it)."""
    failed: dict[tuple[str, str], BaseException] = {}

    def run(site_name: str, kind: str, size: str) -> list[Look]:
        key = (site_name, f"{kind}-{size}")
        if key in failed:
            raise AssertionError(f"the {kind} tour of {site_name} at {size} failed") from (
                failed[key]
            )
        if key not in checker.looks:
            site = request.getfixturevalue(f"{site_name}_site")
            try:
                if kind == "partner":
                    context = partner_context(browser, size)
                    try:
                        partner_tour(checker, site, size, context.new_page())
                    finally:
                        context.close()
                else:
                    therapist_tour(checker, site, size, therapist_tabs(site))
            except BaseException as error:
                failed[key] = error
                raise
        return checker.looks[key]

    return run


def report(looks: list[Look]) -> str:
    return "\n".join(
        f"  {look.name} ({look.status} {look.url}):\n    " + "\n    ".join(look.problems)
        for look in looks
        if look.problems
    )


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("site_name", SITE_NAMES)
def test_every_partner_page_passes_axe_fits_and_is_easy_to_tap(site_name, size, tours):
    looks = tours(site_name, "partner", size)
    assert [look.name for look in looks] == list(PARTNER_PAGES)
    assert not any(look.problems for look in looks), f"{site_name} at {size}:\n" + report(looks)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("site_name", SITE_NAMES)
def test_the_therapists_invitation_pages_pass_axe_and_fit(site_name, size, tours):
    looks = tours(site_name, "invitations", size)
    assert sorted(look.name for look in looks) == sorted(THERAPIST_PAGES)
    assert not any(look.problems for look in looks), f"{site_name} at {size}:\n" + report(looks)


def test_every_partner_and_invitation_page_is_valid_html(tours, checker):
    require(VNU, java=True)
    for site_name in SITE_NAMES:
        tours(site_name, "partner", "phone")
        tours(site_name, "invitations", "laptop")
    folder = ARTIFACTS / "html"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for (site_name, name), body in checker.html.items():
        kind = "invitations" if name in THERAPIST_PAGES else "partner"
        target = folder / f"{kind}-{site_name}-{name}.html"
        target.write_bytes(body)
        files[str(target.resolve())] = f"{site_name} {name}"
    expected = len(SITE_NAMES) * (len(PARTNER_PAGES) + len(THERAPIST_PAGES))
    assert len(files) == expected, sorted(files.values())
    assert_valid_html(files)
