"""Helpers for session plan tests: fill the plan form as a browser would, read PDFs back."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

import pypdf
from sqlalchemy import select

from counselor_app.extensions import db
from counselor_app.flags import CHALLENGES
from counselor_app.models import IssuedDocument

# Words of the clinical record that a couple's handout never shows, whatever the couple: no
# flag, severity or score, no safety screen, no answer wording ("strongly agree").
CLINICAL_WORDS = (
    "flag",
    "severity",
    "score",
    "csi",
    "distress",
    "safety",
    "strongly agree",
    "/21",
    "cut-off",
)


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def clinical_leaks(text: str, markers: Iterable[str] = ()) -> list[str]:
    """What of the clinical record a handout's text shows: any of ``markers`` (unique words
    typed into answers, notes and goals), a flag's key or title, or a clinical word."""
    folded = " ".join(text.split()).lower()
    found = [marker for marker in markers if marker.lower() in folded]
    for key, (title, _) in CHALLENGES.items():
        found += [name for name in (key, title) if name.lower() in folded]
    return found + [word for word in CLINICAL_WORDS if word in folded]


def plan_form(page: str) -> dict[str, str]:
    """Every field of the plan form as the browser would send it back unchanged."""
    data: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]+>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="submit"' in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag or 'type="radio"' in tag:
            if "checked" in tag:
                data.setdefault(name.group(1), [])
                data[name.group(1)].append(value.group(1))
            continue
        data[name.group(1)] = value.group(1) if value else ""
    for name, text in re.findall(
        r'<textarea[^>]*name="([^"]+)"[^>]*>\n?(.*?)</textarea>', page, re.S
    ):
        data[name] = text
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option selected value="([^"]*)"', body) or re.search(
            r'<option value="([^"]*)" selected', body
        )
        data[name] = chosen.group(1) if chosen else ""
    data.pop("csrf_token", None)
    return data


def new_plan(client, couple_id, *, prefix="", **changes) -> int:
    """``prefix``: where the package is mounted ("" standalone, "/couples-therapy" in a host)."""
    url = f"{prefix}/couples/{couple_id}/plans/new"
    page = client.get(url).get_data(as_text=True)
    data = {**plan_form(page), **changes}
    response = client.post_form(url, data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def issued(app, plan_id, kind=None):
    with app.app_context():
        query = select(IssuedDocument).where(IssuedDocument.plan_id == plan_id)
        rows = db.session.scalars(query.order_by(IssuedDocument.id)).all()
        return [
            (d.kind.value, d.number, d.sha256, d.content)
            for d in rows
            if kind is None or d.kind.value == kind
        ]
