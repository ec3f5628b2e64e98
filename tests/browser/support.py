"""What the browser tests share: the tools they drive, the main pages, and page checks in JS."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from counselor_app.intake.services import steps

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
VNU = HERE / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
# The network is closed here, and no test may depend on it: nothing in the background
# (updates, sync, safe-browsing lists), no QUIC probes.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
VIEWPORTS = ((1280, 800), (1024, 768), (390, 844))

# The pages of one couple, by name (tests/browser/conftest.py gives their paths).
COUPLE_PAGES = (
    "couple",
    "couple-edit",
    *(f"intake-a-{step.slug}" for step in steps()),
    "intake-a-review",
    "assessment",
    "plans",
    "plan-new",
    "plan",
    "appointments",
    "appointment",
    "progress",
)
# Every main page: signed out (login), a therapist's own pages, one couple's pages, the
# assessment of a couple with an open safety alert, and the administrator's pages.
MAIN_PAGES = (
    "login",
    "dashboard",
    "couple-new",
    *COUPLE_PAGES,
    "safety-assessment",
    "library",
    "library-detail",
    "library-edit",
    "password",
    "admin-therapists",
    "admin-practice",
    "admin-audit",
)
SIGNED_OUT_PAGES = frozenset({"login"})


def require(*paths: Path, java: bool = False) -> None:
    """Fail (never skip) when a tool the browser tests need is missing."""
    missing = [str(path) for path in paths if not path.exists()]
    if java and shutil.which("java") is None:
        missing.append("java (Debian's default-jre-headless)")
    if missing:
        pytest.fail(
            "The browser tests need " + ", ".join(missing) + ". Run `make test`: it installs "
            "Debian's chromium and Java, and axe-core and vnu.jar into tests/browser/node_modules.",
            pytrace=False,
        )


# ------------------------------------------------------------------------------ axe
# WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
AXE_RESULT_KINDS = ("passes", "violations", "incomplete", "inapplicable")


def axe_source() -> str:
    require(AXE)
    return AXE.read_text(encoding="utf-8")


def run_axe(page: Page, source: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Inject axe-core into the page and run it. ``evaluate`` is not bound by the page's
    Content-Security-Policy (no inline script allowed), where a <script> tag would be."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source)
    options = options or {
        "runOnly": {"type": "tag", "values": AXE_TAGS},
        "resultTypes": ["violations"],  # the other kinds keep their rule ids, not every node
    }
    return page.evaluate("options => axe.run(document, options)", options)


def serious_violations(result: dict[str, Any]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']}\n      at "
        + "\n      at ".join(" ".join(node["target"]) for node in v["nodes"])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# ------------------------------------------------------------------------------ page checks
# Where the page is wider than the window, or an element hides part of its content: clipped
# (overflow hidden or clip) or scrolling inside itself. Form fields scroll their own text,
# and visually hidden text is clipped on purpose, so neither counts.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const width = window.innerWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (typeof el.className === 'string' && el.className.trim()
       ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const root = document.documentElement;
  if (root.scrollWidth > width) {
    problems.push(`the page scrolls sideways: ${root.scrollWidth}px wide in a ${width}px window`);
  }
  const main = document.querySelector('main');
  if (main.scrollWidth > main.clientWidth + 1) {
    problems.push(`main content is ${main.scrollWidth}px wide in ${main.clientWidth}px`);
  }
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.visually-hidden, svg, input, select, textarea') || el.matches('.skip-link')) {
      continue;
    }
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    for (const [axis, overflow, scroll, client] of [
      ['wide', style.overflowX, el.scrollWidth, el.clientWidth],
      ['tall', style.overflowY, el.scrollHeight, el.clientHeight],
    ]) {
      if (overflow === 'visible' || scroll <= client + 1) continue;
      const how = overflow === 'hidden' || overflow === 'clip' ? 'cuts off' : 'scrolls';
      if (axis === 'tall' && how === 'scrolls') continue;  // a long box may scroll down
      problems.push(`${name(el)} ${how} its content: ${scroll}px ${axis} in ${client}px`);
    }
    const rect = el.getBoundingClientRect();
    const parent = el.parentElement.getBoundingClientRect();
    if (rect.width && rect.right > width + 1 && parent.right <= width + 1) {  // outermost only
      problems.push(`${name(el)} ends ${Math.round(rect.right - width)}px past the window`);
    }
  }
  return problems;
}"""

# The focused element, and where it is on the page (not the window: the page scrolls).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const r = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(), type: el.type || '', name: el.name || '', id: el.id || '',
    value: el.value || '', checked: !!el.checked, text: (el.innerText || '').trim().slice(0, 60),
    skip: el.matches('a.skip-link[href="#main"]'),
    top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left + scrollX, right: r.right + scrollX,
  };
}"""


def focused(page: Page) -> dict[str, Any] | None:
    return page.evaluate(FOCUSED)


def describe(element: dict[str, Any] | None) -> str:
    if element is None:
        return "nothing"
    what = element["tag"] + (f"[name={element['name']}]" if element["name"] else "")
    return what + (f" “{element['text']}”" if element["text"] else "")


def assert_valid_html(files: dict[str, str]) -> str:
    """Run the Nu HTML Checker on ``files`` (path -> the name a failure should show): no
    errors. Returns the checker's version."""
    checked = subprocess.run(
        ["java", "-jar", str(VNU), "--errors-only", "--format", "json", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # vnu writes its report to stderr, and exits 1 when it found errors.
    report = json.loads(checked.stderr or checked.stdout)
    errors = [m for m in report["messages"] if m["type"] in ("error", "non-document-error")]
    assert checked.returncode in (0, 1), checked.stderr[-2000:]
    assert not errors, f"vnu {report['version']} found errors:\n  " + "\n  ".join(
        f"{files.get(m.get('url', '').removeprefix('file:'), m.get('url'))} line "
        f"{m.get('lastLine', '?')}: {m['message']} [{m.get('extract', '').strip()}]"
        for m in errors
    )
    assert checked.returncode == 0, checked.stderr[-2000:]
    return str(report["version"])
