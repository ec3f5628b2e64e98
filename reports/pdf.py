"""The one way this app turns HTML into PDF: WeasyPrint, closed to the network and the disk.

Templates are rendered from plain values with autoescaping, so nothing a user typed becomes
markup; the URL fetcher below is the second wall: it serves the app's own static files and
refuses every other URL (``http:``, ``file:``, other ``data:``...), so a document can never read a
local file or call out to a server while it is rendered.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from functools import cache

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from counselor_app.paths import REPORTS_DIR, STATIC_DIR
from counselor_app.reports.tagging import add_header_scopes

# Templates refer to static files as "counselor-static:css/x.css"; nothing else resolves.
STATIC_SCHEME = "counselor-static:"
DATA_SVG = "data:image/svg+xml;base64,"
PAGE_SIZES = {"a4": "A4", "letter": "letter"}


class StaticOnlyFetcher(URLFetcher):
    """Serve files from the package's static folder; refuse everything else."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=())
        self.refused: list[str] = []

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        if url.startswith(DATA_SVG):
            # Our own charts, inlined as data: no network and no disk. Anything the SVG itself
            # refers to comes back through this same fetcher and is refused.
            body = base64.b64decode(url[len(DATA_SVG) :], validate=True)
            return URLFetcherResponse(url, body, {"Content-Type": "image/svg+xml"}, 200)
        if url.startswith(STATIC_SCHEME):
            path = (STATIC_DIR / url[len(STATIC_SCHEME) :].lstrip("/")).resolve()
            if STATIC_DIR in path.parents and path.is_file():
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime}, 200)
        self.refused.append(url)
        raise ValueError("Only the application's own static files may be used in documents.")


@cache
def _font_config() -> FontConfiguration:
    return FontConfiguration()


@cache
def _stylesheets(paper: str) -> tuple[CSS, ...]:
    """Built once per paper size and reused: parsing CSS is a good share of a small render."""
    fonts = _font_config()
    base = CSS(filename=str(REPORTS_DIR / "print.css"), font_config=fonts)
    page = CSS(string=f"@page {{ size: {PAGE_SIZES[paper]}; }}", font_config=fonts)
    return base, page


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    refused_urls: tuple[str, ...]


def render_pdf(html: str, *, paper: str, variant: str | None) -> Rendered:
    """PDF bytes for ``html`` (title, author, subject and language come from its <head>)."""
    fetcher = StaticOnlyFetcher()
    document = HTML(string=html, base_url=STATIC_SCHEME, url_fetcher=fetcher)
    pdf = document.write_pdf(
        stylesheets=list(_stylesheets(paper)),
        font_config=_font_config(),
        pdf_variant=variant,
        finisher=add_header_scopes,
    )
    return Rendered(pdf=pdf, refused_urls=tuple(fetcher.refused))
