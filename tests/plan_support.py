"""Helpers for session plan tests: fill the plan form as a browser would, read PDFs back."""

from __future__ import annotations

import io
import re

import pypdf
from sqlalchemy import select

from counselor_app.extensions import db
from counselor_app.models import IssuedDocument


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


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


def new_plan(client, couple_id, **changes) -> int:
    page = client.get(f"/couples/{couple_id}/plans/new").get_data(as_text=True)
    data = {**plan_form(page), **changes}
    response = client.post_form(f"/couples/{couple_id}/plans/new", data)
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
