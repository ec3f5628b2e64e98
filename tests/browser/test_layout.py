"""Every main page on a laptop, a tablet and a phone: no sideways scroll, nothing cut off.

A full-page screenshot of each is kept in tests/artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import pytest

from .support import ARTIFACTS, LAYOUT_PROBLEMS, MAIN_PAGES, VIEWPORTS

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
def test_pages_fit_the_screen(viewport, open_page):
    width, height = viewport
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for name in MAIN_PAGES:
        page = open_page(name, {"width": width, "height": height})
        problems += [f"{name}: {problem}" for problem in page.evaluate(LAYOUT_PROBLEMS)]
        page.screenshot(path=folder / f"{name}-{width}x{height}.png", full_page=True)
    assert not problems, f"at {width}x{height}:\n  " + "\n  ".join(problems)
