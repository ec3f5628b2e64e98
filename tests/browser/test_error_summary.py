"""One error pattern for every form, in Chromium: standalone and mounted in the reference host.

Every form of ours whose POST can fail, found from the URL map as the CSRF walk finds them
(tests/route_walk.py: every POST route, with the form a page of the couple's shows for it), is
sent empty with its main button, as someone pressing it too early would. Where the page comes
back refused, what a person notices is checked: focus is on the error summary's heading, which
is in view (a long page lands at the form that failed, not at its top); the title starts with
"Error:"; each of the summary's links moves focus to its field, in view with its label or
legend; axe-core finds nothing serious and the Nu HTML Checker no error. The forms are sent as
the couple's therapist (an administrator), a visitor (the sign-in) and a partner with a check-in
link. Forms with nothing to fill in (a button and the token) are left out; forms taken empty (a
blank private note is a note) are listed in the output.
HTML of the refused pages: tests/artifacts/html/error-*.html.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from conftest import login
from host_support import PREFIX
from route_walk import PostedForm, build_every_id, forms_of, forms_on, routes

from .conftest import add_therapist, mounted_host, sign_in
from .support import (
    ARTIFACTS,
    VIEWPORT,
    VNU,
    assert_valid_html,
    axe_source,
    require,
    run_axe,
    serious_violations,
)

pytestmark = pytest.mark.browser

TIMEOUT = 10_000  # ms
HTML = ARTIFACTS / "html"
# The refusals the issue names, each on a long page: the empty note signed, a flag added with
# nothing chosen, a check-in sent unanswered (the therapist's, and a partner's own).
NAMED = {
    "couple.appointments.save_note",
    "couple.assessment.add_flag",
    "couple.appointments.check_in",
    "partner.check_in",
}


@dataclass
class Site:
    name: str
    app: Flask
    base: str
    prefix: str
    client: Any  # the owner (an administrator), signed in, as a test client
    ids: dict[str, Any]
    sign_in: Any  # sign_in(page): the owner signs in in a browser tab

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def standalone(live_server) -> Site:
    app = live_server.app
    therapist = add_therapist(app, "Eli Summary", "eli@example.org", admin=True)
    client = app.test_client()
    assert login(client, therapist).status_code == 302
    ids = build_every_id(app, client, therapist.id, ("Quinn", "Rowan"))
    return Site(
        "standalone",
        app,
        live_server.base,
        "",
        client,
        ids,
        lambda page: sign_in(page, live_server, therapist.email),
    )


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The reference host with the package under /couples-therapy, on a live server."""
    with mounted_host(tmp_path_factory, "mounted-errors") as host:
        ids = build_every_id(host.app, host.client, host.therapist_id, ("Quinn", "Rowan"))
        yield Site("mounted", host.app, host.base, PREFIX, host.client, ids, host.sign_in)


@pytest.fixture(scope="module", params=("standalone", "mounted"))
def site(request: pytest.FixtureRequest) -> Site:
    return request.getfixturevalue(request.param)


# ------------------------------------------------------------------------------ the forms
def therapist_forms(site: Site) -> dict[str, PostedForm]:
    """The form of every POST route of a therapist's (admin pages included: the owner is an
    administrator), as the couple's pages show them."""
    # Not the new link's delivery forms: that page is the answer to a POST, none to open.
    return {n: f for n, f in forms_of(site.app, site.client, site.ids).items() if f.source}


def visitor_forms(site: Site) -> dict[str, PostedForm]:
    """The forms of the pages open to anyone: standalone, the sign-in page's."""
    if site.prefix:
        return {}  # mounted, signing in is the host's
    page = site.app.test_client().get("/login").get_data(as_text=True)
    return {form.name: form for form in forms_on(site.app, "/login", page)}


def partner_forms(site: Site, page: Page) -> dict[str, PostedForm]:
    """A partner's forms, read in ``page``, which has opened the check-in link of ``site``."""
    found: dict[str, PostedForm] = {}
    for route in routes(site.app):
        if route.partner and "GET" in route.methods and "token" not in route.arguments:
            path = route.url(site.ids)
            if route.name in ("partner.paused", "partner.done"):
                continue  # they end the partner's session
            response = page.goto(site.url(path))
            if response is not None and response.ok:
                for form in forms_on(site.app, path, page.content()):
                    found.setdefault(form.name, form)
    return found


# ------------------------------------------------------------------------------ in the page
# Marks the form posting to ``url`` (path and query) and the button to send it with (its
# primary one: "Sign and lock this note", not "Save draft"), empties what a person fills in,
# and says whether there was anything to fill in.
EMPTY_THE_FORM = """url => {
  const posts = (f, to) => {
    const target = new URL(to, location.href);
    return target.pathname + target.search === url;
  };
  const forms = [...document.querySelectorAll("form[method='post']")];
  // Not f.action: a button named "action" (the note's) stands in its place.
  const form = forms.find(f => posts(f, f.getAttribute("action") || location.href));
  if (!form) {
    // autosave.js's drafts: answered in JSON, for the script, never a page.
    const draft = forms.some(f => f.dataset.autosave && posts(f, f.dataset.autosave));
    return draft ? "saved by script" : "missing";
  }
  const fields = form.querySelectorAll(
    "input:not([type=hidden]):not([type=submit]):not([type=button]), textarea, select");
  if (!fields.length) return "nothing to fill in";
  for (const el of fields) {
    if (el.type === "checkbox" || el.type === "radio") el.checked = false;
    else if (el.tagName === "SELECT") {
      const blank = [...el.options].find(o => o.value === "");
      if (blank) el.value = "";
    } else if (el.type !== "file") el.value = "";
  }
  const buttons = [...form.querySelectorAll("button:not([type=button]), input[type=submit]")];
  const button = buttons.find(b => b.classList.contains("button-primary")) || buttons[0];
  button.setAttribute("data-probe", "send");
  return "emptied";
}"""

# The focused element: whether it is the summary's heading, its id, and whether it is in view
# with what it asks (its group's legend, or its label): a field whose question is scrolled
# away above it is not one a person can answer.
FOCUS = """() => {
  const el = document.activeElement;
  // A page that lands at an element puts its top at 0, give or take a fraction of a pixel.
  const inView = (node) => {
    const r = node.getBoundingClientRect();
    return r.top > -1 && r.bottom < innerHeight + 1 && r.height > 0;
  };
  const group = el.closest("fieldset");
  const caption = (group && group.querySelector("legend"))
    || (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) || el;
  return {
    summary: el.matches("[data-error-summary] [tabindex='-1']"),
    id: el.id, tag: el.tagName.toLowerCase(), text: (el.innerText || "").trim().slice(0, 80),
    inView: inView(el) && inView(caption),
  };
}"""

# Each link of the summary, and the control it should move focus to: the element the link
# names, or (a group's fieldset) the first control inside it.
LINKS = """() => [...document.querySelectorAll("[data-error-summary] a[href^='#']")].map(a => {
  const target = document.getElementById(decodeURIComponent(a.hash.slice(1)));
  const control = target && (target.matches("input, select, textarea")
    ? target : target.querySelector("input:not([type=hidden]), select, textarea"));
  return {href: a.getAttribute("href"), text: a.innerText, control: control ? control.id : null};
})"""


def send_empty(page: Page, site: Site, form: PostedForm) -> str:
    """Open the form's page, empty the form and send it: what happened."""
    response = page.goto(site.url(form.source))
    assert response is not None and response.ok, (form.name, form.source)
    state = page.evaluate(EMPTY_THE_FORM, form.url)
    assert state != "missing", f"{form.name}: no form posting to {form.url} on {form.source}"
    if state != "emptied":
        return state
    try:
        with page.expect_navigation() as navigation:
            page.locator("[data-probe='send']").click()
    except PlaywrightError as error:
        pytest.fail(f"{form.name}: sent empty from {form.source}, no page came back: {error}")
    assert navigation.value is not None, form.name
    return "refused" if page.locator("[data-error-summary]").count() else "taken empty"


@dataclass
class Refusal:
    """A refused form's page, as a person met it."""

    name: str  # the endpoint the form posts to
    html: str  # as it came back, before any link of its summary was followed
    title: str
    on_load: dict[str, Any]  # the focused element (FOCUS)
    links: list[tuple[dict[str, Any], dict[str, Any]]]  # each link (LINKS), focus after it
    axe: list[str]  # serious violations


def meet(page: Page, name: str, axe: str) -> Refusal:
    """The refused page now in ``page``: what it says and does, each summary link followed."""
    html, title, on_load = page.content(), page.title(), page.evaluate(FOCUS)
    links = []
    for link in page.evaluate(LINKS):
        page.locator(f"[data-error-summary] a[href='{link['href']}']").click()
        links.append((link, page.evaluate(FOCUS)))
    return Refusal(name, html, title, on_load, links, serious_violations(run_axe(page, axe)))


@dataclass
class Walk:
    outcomes: dict[str, list[str]] = field(default_factory=dict)  # outcome -> endpoints
    refusals: list[Refusal] = field(default_factory=list)


@pytest.fixture(scope="module")
def walked(site: Site, browser: Browser) -> Walk:
    """Every form sent empty: as the owner, as a visitor (the sign-in), and as partner A with
    the check-in link, each in a browser of their own."""
    axe, found = axe_source(), Walk()
    for who in ("owner", "visitor", "partner"):
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT)
        try:
            page = context.new_page()
            if who == "owner":
                site.sign_in(page)
                forms = therapist_forms(site)
            elif who == "visitor":
                forms = visitor_forms(site)
            else:
                page.goto(site.url(f"{site.prefix}/answer/{site.ids['link_token']}"))
                forms = partner_forms(site, page)
            for name, form in sorted(forms.items()):
                outcome = send_empty(page, site, form)
                found.outcomes.setdefault(outcome, []).append(name)
                if outcome == "refused":
                    found.refusals.append(meet(page, name, axe))
        finally:
            context.close()
    print(f"\n{site.name}: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in found.outcomes.items()))
    return found


# ------------------------------------------------------------------------------ the tests
def test_every_form_that_can_fail_was_refused_and_met(walked, site):
    refused = {refusal.name for refusal in walked.refusals}
    assert refused >= NAMED, NAMED - refused
    # Standalone adds the sign-in, the password change and adding a therapist.
    assert len(refused) >= (19 if site.prefix else 22), sorted(refused)


def test_a_refused_form_focuses_its_summary_in_view_and_the_title_says_error(walked):
    problems = [
        f"{r.name}: title {r.title!r}, focus on {r.on_load}"
        for r in walked.refusals
        if not (r.title.startswith("Error:") and r.on_load["summary"] and r.on_load["inView"])
    ]
    assert not problems, "\n".join(problems)


def test_each_link_of_the_summary_moves_focus_to_its_field_in_view(walked):
    problems = [
        f"{r.name}: {link['text']!r} left focus on {after}"
        for r in walked.refusals
        for link, after in r.links
        if link["control"] is None or after["id"] != link["control"] or not after["inView"]
    ]
    assert not problems, "\n".join(problems)
    assert sum(len(r.links) for r in walked.refusals) >= 40


def test_an_empty_note_is_tied_to_the_note_box(walked):
    [note] = [r for r in walked.refusals if r.name == "couple.appointments.save_note"]
    [(link, after)] = note.links
    assert link["text"] == "Data: Write the note before signing it."
    assert after["id"] == "note-dap_data" and after["inView"]
    textarea = re.search(r'<textarea[^>]*id="note-dap_data"[^>]*>', note.html).group(0)
    assert 'aria-invalid="true"' in textarea and "note-dap_data-error" in textarea


def test_refused_pages_pass_axe(walked):
    problems = [f"{r.name}: {violation}" for r in walked.refusals for violation in r.axe]
    assert not problems, "\n".join(problems)


def test_refused_pages_are_valid_html(walked, site):
    require(VNU, java=True)
    HTML.mkdir(parents=True, exist_ok=True)
    files = {}
    for refusal in walked.refusals:
        path = HTML / f"error-{site.name}-{refusal.name.replace('.', '-')}.html"
        path.write_text(refusal.html, encoding="utf-8")
        files[str(path)] = f"{site.name} {refusal.name} refused"
    assert_valid_html(files)
