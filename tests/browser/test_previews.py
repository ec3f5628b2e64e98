"""The browser previews of the plan and the handout are pages of the app: axe-core finds no
violation at any impact (a missing <main> or content outside a landmark is only "moderate"),
the Nu HTML Checker no error, and the link back leads to the plan."""

from __future__ import annotations

import pytest

from .support import ARTIFACTS, VNU, assert_valid_html, axe_source, require, run_axe

pytestmark = pytest.mark.browser

KINDS = ("plan", "handout")


def preview_path(world, kind: str) -> str:
    return f"{world.couple.pages['plan']}/preview/{kind}"


@pytest.mark.parametrize("kind", KINDS)
def test_axe_finds_nothing_on_a_preview(kind, signed_in_page, live_server, world):
    page = signed_in_page
    response = page.goto(live_server.url(preview_path(world, kind)))
    assert response is not None and response.status == 200
    violations = run_axe(page, axe_source())["violations"]
    assert violations == [], [(v["id"], v["impact"], v["nodes"][0]["target"]) for v in violations]
    assert page.locator("main h1").count() == 1
    page.get_by_role("navigation", name="Preview").get_by_role("link").click()
    page.wait_for_url(live_server.url(world.couple.pages["plan"]))


def test_previews_are_valid_html(signed_in_context, live_server, world):
    require(VNU, java=True)
    folder = ARTIFACTS / "html"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for kind in KINDS:
        response = signed_in_context.request.get(live_server.url(preview_path(world, kind)))
        assert response.status == 200, (kind, response.status)
        target = folder / f"preview-{kind}.html"
        target.write_bytes(response.body())
        files[str(target.resolve())] = f"preview-{kind}"
    assert_valid_html(files)
