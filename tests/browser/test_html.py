"""The pages as served pass the Nu HTML Checker (vnu.jar, run with the machine's Java)."""

from __future__ import annotations

import pytest

from .support import ARTIFACTS, MAIN_PAGES, SIGNED_OUT_PAGES, VNU, assert_valid_html, require

pytestmark = pytest.mark.browser


def test_every_main_page_is_valid_html(signed_in_context, signed_out_context, live_server, world):
    require(VNU, java=True)
    folder = ARTIFACTS / "html"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    # The bytes the server sent (with the browser's cookies), not the DOM after scripts ran.
    pages = {name: world.pages[name] for name in MAIN_PAGES}
    pages["not-found"] = f"/couples/{world.couple.id}/plans/999999"
    for name, path in pages.items():
        context = signed_out_context if name in SIGNED_OUT_PAGES else signed_in_context
        response = context.request.get(live_server.url(path))
        assert response.status == (404 if name == "not-found" else 200), (name, response.status)
        assert response.headers["content-type"].startswith("text/html"), name
        target = folder / f"{name}.html"
        target.write_bytes(response.body())
        files[str(target.resolve())] = name
    version = assert_valid_html(files)
    print(f"\nvnu {version}: {len(files)} pages, no errors")
