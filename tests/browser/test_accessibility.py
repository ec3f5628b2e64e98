"""Accessibility of every main page: axe-core, labels, focus order, meaning beyond colour."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest
from playwright.sync_api import Page

from .support import (
    ARTIFACTS,
    AXE_RESULT_KINDS,
    AXE_TAGS,
    MAIN_PAGES,
    axe_source,
    describe,
    focused,
    run_axe,
    serious_violations,
)

pytestmark = pytest.mark.browser


# Roles of the controls a person fills in or presses, as Chromium's accessibility tree has them.
CONTROL_ROLES = frozenset(
    {
        "textbox",
        "searchbox",
        "spinbutton",
        "combobox",
        "listbox",
        "checkbox",
        "radio",
        "switch",
        "slider",
        "button",
        "DateTime",
        "date",
        "InputTime",
    }
)
VISIBLE_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter(el => el.type !== 'hidden' && el.getClientRects().length).length"""
# What shows a state that also has a colour: each must say it in words (or a symbol) too.
TEXT_CARRIERS = """() => [...document.querySelectorAll(
    '.badge, .step-state, .flash, .field-error, .safety-banner, .notice, .decision, .flag'
  )].filter(el => el.getClientRects().length && !el.innerText.trim())
   .map(el => el.outerHTML.slice(0, 120))"""


def unnamed_controls(page: Page) -> tuple[int, list[str]]:
    """(controls seen, those without an accessible name), from Chromium's accessibility tree:
    the names a screen reader announces, not a guess from the markup."""
    session = page.context.new_cdp_session(page)
    try:
        nodes = session.send("Accessibility.getFullAXTree")["nodes"]
        seen, unnamed = 0, []
        for node in nodes:
            role = node.get("role", {}).get("value")
            if node.get("ignored") or role not in CONTROL_ROLES:
                continue
            seen += 1
            if not str(node.get("name", {}).get("value", "")).strip():
                found = session.send(
                    "DOM.describeNode", {"backendNodeId": node["backendDOMNodeId"]}
                )
                attributes = found["node"].get("attributes", [])
                pairs = dict(zip(attributes[::2], attributes[1::2], strict=True))
                unnamed.append(f"{role} <{found['node']['localName']} {pairs}>")
        return seen, unnamed
    finally:
        session.detach()


@dataclass
class PageReport:
    url: str
    axe: dict[str, Any]
    controls_in_tree: int
    visible_controls: int
    unnamed: list[str]
    textless: list[str]

    @property
    def rules(self) -> set[str]:
        return {rule["id"] for kind in AXE_RESULT_KINDS for rule in self.axe[kind]}


@pytest.fixture(scope="module")
def report(open_page) -> Iterator[Callable[[str], PageReport]]:
    """report(name): every check of this module run once on a main page, kept for the rest.

    At the end, which axe rules ran is printed and written to tests/artifacts/.
    """
    source = axe_source()
    reports: dict[str, PageReport] = {}

    def report_(name: str) -> PageReport:
        if name not in reports:
            page = open_page(name)
            seen, unnamed = unnamed_controls(page)
            reports[name] = PageReport(
                page.url,
                run_axe(page, source),
                seen,
                page.evaluate(VISIBLE_CONTROLS),
                unnamed,
                page.evaluate(TEXT_CARRIERS),
            )
        return reports[name]

    yield report_
    rules = sorted(set().union(*(r.rules for r in reports.values())))
    summary = {
        "tags": AXE_TAGS,
        "rules_run": len(rules),
        "pages_checked": len(reports),
        "rules": rules,
        "pages": {
            name: {
                "url": r.url,
                "rules_run": len(r.rules),
                "violations": [
                    {"rule": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])}
                    for v in r.axe["violations"]
                ],
            }
            for name, r in reports.items()
        },
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\naxe-core {reports and next(iter(reports.values())).axe['testEngine']['version']}: "
        f"{len(rules)} rules run over {len(reports)} pages ({', '.join(AXE_TAGS)}); "
        "summary in tests/artifacts/axe-summary.json"
    )


@pytest.mark.parametrize("name", MAIN_PAGES)
def test_axe_finds_no_serious_violation(name, report):
    result = report(name)
    problems = serious_violations(result.axe)
    assert not problems, f"axe on {name} ({result.url}):\n  " + "\n  ".join(problems)


def test_every_visible_form_control_has_an_accessible_name(report):
    problems = []
    for name in MAIN_PAGES:
        result = report(name)
        # Every visible control of the page is in the tree, so none escaped the check.
        assert result.controls_in_tree >= result.visible_controls > 0, (name, result)
        problems += [f"{name}: {control}" for control in result.unnamed]
    assert not problems, "controls without an accessible name:\n  " + "\n  ".join(problems)


def tab_through(page: Page, limit: int = 400) -> list[dict[str, Any]]:
    """Every element Tab reaches from the top of a page just loaded, in order, until focus
    leaves the page."""
    assert focused(page) is None, "something has focus before the first Tab"
    order: list[dict[str, Any]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        if element is None or (order and element["skip"]):
            break
        order.append(element)
    return order


# Two elements a row apart may differ by a few pixels in where their boxes start.
SLACK = 4


def out_of_order(order: list[dict[str, Any]]) -> list[str]:
    """Steps that go back up the page. Moving up is reading order only into a later column:
    the next element starts to the right of where the previous one ends (a sidebar, then the
    form beside it; the next item of a row whose items differ in height)."""
    problems = []
    for before, after in pairwise(order):
        up = after["top"] < before["top"] - SLACK
        next_column = after["left"] >= before["right"] - SLACK
        if up and not next_column:
            problems.append(
                f"{describe(before)} (top {before['top']:.0f}, left {before['left']:.0f}) → "
                f"{describe(after)} (top {after['top']:.0f}, left {after['left']:.0f})"
            )
    return problems


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["laptop", "phone"])
@pytest.mark.parametrize("name", ["intake-a-background", "intake-a-independence", "plan-new"])
def test_focus_order_follows_the_page(name, viewport, open_page):
    page = open_page(name, {"width": viewport[0], "height": viewport[1]})
    order = tab_through(page)
    assert order and order[0]["skip"], f"the first Tab reaches {describe(order[0])}"
    fields = [element for element in order if element["name"]]
    assert len(fields) > 5, [describe(element) for element in order]
    problems = out_of_order(order)
    assert not problems, f"focus goes back up on {name}:\n  " + "\n  ".join(problems)


# axe's checks of colour: contrast, and links in text told apart by more than colour.
COLOUR_RULES = ("color-contrast", "link-in-text-block")


def test_colour_is_never_the_only_carrier_of_meaning(report):
    problems = []
    for name in MAIN_PAGES:
        result = report(name)
        assert "color-contrast" in result.rules, name  # the rule ran (and was not skipped)
        problems += [
            f"{name}: {v['id']} ({v['impact']}): {v['help']}"
            for v in result.axe["violations"]
            if v["id"] in COLOUR_RULES
        ]
        problems += [f"{name}: a state shown without words: {html}" for html in result.textless]
    assert not problems, "\n  ".join(problems)


def test_status_badges_and_flag_severities_carry_text(open_page):
    dashboard = open_page("dashboard")
    assert dashboard.locator(".badge-active").first.inner_text() == "Active"
    assessment = open_page("assessment")
    flags = assessment.locator("article.flag")
    assert flags.count() >= 2
    for index in range(flags.count()):
        flag = flags.nth(index)
        severity = next(
            c.removeprefix("severity-")
            for c in flag.get_attribute("class").split()
            if c.startswith("severity-")
        )
        assert flag.locator(".badge").first.inner_text() == f"Severity: {severity}"
    # The decision on a flag is written out, not shown by a colour alone.
    assert "Confirmed by Dana Whitfield" in assessment.locator(".decision").first.inner_text()
    # Each intake step's state is in words beside its style: done, not started, n to go.
    review = open_page("intake-a-review")
    states = review.eval_on_selector_all(
        ".steps li.step:has(.step-state)",
        "items => items.map(li => [li.className, li.querySelector('.step-state').innerText])",
    )
    words = {"step-done": "✓ Done", "step-todo": "Not started", "step-started": "required to go"}
    assert len(states) == 10, states
    for classes, text in states:
        state = next(c for c in classes.split() if c in words)
        assert words[state] in text, (classes, text)
    progress = open_page("progress")
    assert "▼ distressed" in progress.locator("main").inner_text()
    therapists = open_page("admin-therapists")
    assert therapists.locator(".badge").all_inner_texts() == ["Active"]


def test_an_invalid_field_says_so_in_words(open_page):
    page = open_page("couple-new")
    page.get_by_role("button", name="Add couple").click()
    page.wait_for_selector(".form-errors")
    invalid = page.locator(".has-error")
    assert invalid.count() >= 3
    for index in range(invalid.count()):
        # "Error: Enter a name…" to a screen reader; a warning sign and the words on screen.
        text = invalid.nth(index).locator(".field-error").text_content().strip()
        assert text.startswith("Error: ") and len(text) > 10, text
    assert "Nothing you typed has been lost" in page.locator(".form-errors").inner_text()
