"""Helpers for partners answering by their own link: the therapist invites through the pages,
and a partner's browser (a test client of its own, with no sign-in) opens the link and answers.

Every helper takes ``prefix``: "" standalone, "/couples-therapy" mounted in the host.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from counselor_app.intake.services import steps
from intake_support import CSI_SATISFIED
from vignettes import NEUTRAL, SAFE, on_intake_v2

LINK = re.compile(r'id="personal-link"[^>]*value="([^"]+)"')
HIDDEN_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
VERSION = re.compile(r'name="version" type="hidden" value="(\d*)"')
BALANCE_MIDDLE = {
    "bal_time_self": 2,
    "bal_time_together": 2,
    "bal_heard": 2,
    "bal_boundaries": 2,
    "bal_overall": 2,
}


def invite(
    client: Any,
    couple_id: int,
    label: str,
    *,
    purpose: str = "intake",
    appointment_id: int = 0,
    days: int = 7,
    prefix: str = "",
) -> tuple[Any, str]:
    """The therapist makes a link on the invitation page: (the delivery page, the link)."""
    response = client.post_form(
        f"{prefix}/couples/{couple_id}/invitations/new",
        {
            "partner": label,
            "purpose": purpose,
            "appointment_id": str(appointment_id),
            "valid_days": str(days),
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)[-2000:]
    match = LINK.search(response.get_data(as_text=True))
    assert match, "no link on the delivery page"
    return response, html.unescape(match.group(1))


def path_of(link: str) -> str:
    return urlsplit(link).path


class PartnerBrowser:
    """A partner's phone: a client with no therapist session, sending each page's own token."""

    def __init__(self, app: Flask, prefix: str = "", client: FlaskClient | None = None) -> None:
        self.app = app
        self.client: FlaskClient = client or app.test_client()
        self.prefix = prefix
        self.page = ""
        # Every page this browser was shown, in order (for what a partner may never see).
        self.seen: list[str] = []

    def tab(self) -> PartnerBrowser:
        """Another tab of this browser: the same cookies (one partner session), its own page."""
        return PartnerBrowser(self.app, self.prefix, client=self.client)

    def _shown(self, response: Any) -> Any:
        self.page = response.get_data(as_text=True)
        self.seen.append(self.page)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self._shown(self.client.get(path, **kwargs))

    def open(self, link: str) -> Any:
        """Open the link as a browser would, following the redirect to the welcome page."""
        return self.get(path_of(link), follow_redirects=True)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
        """Post from the page last shown: its CSRF token travels along."""
        token = HIDDEN_CSRF.search(self.page)
        payload = {"csrf_token": token.group(1) if token else "", **data}
        return self._shown(self.client.post(path, data=payload, **kwargs))

    def url(self, tail: str) -> str:
        return f"{self.prefix}/answer{tail}"

    def answer_page(self, slug: str, values: dict[str, Any], action: str = "next") -> Any:
        path = self.url(f"/intake/{slug}")
        self.get(path)
        version = VERSION.search(self.page)
        assert version, f"no version on {path}: {self.page[:500]}"
        data = {key: str(value) for key, value in values.items()}
        return self.post(path, {**data, "version": version.group(1), "action": action})

    def answer_intake(
        self,
        intake: dict[str, Any] | None = None,
        csi: dict[str, Any] | None = None,
        safety: dict[str, Any] | None = None,
        *,
        send: bool = True,
    ) -> Any:
        """Every page in order, then (``send``) the finish page's Send button."""
        answers = {**on_intake_v2(intake or NEUTRAL), **(csi or CSI_SATISFIED), **(safety or SAFE)}
        for step in steps():
            values = {i.id: answers[i.id] for i in step.section.items if i.id in answers}
            response = self.answer_page(step.slug, values)
            assert response.status_code == 303, (step.slug, response.get_data(as_text=True)[:2000])
        if not send:
            return response
        self.get(self.url("/intake/finish"))
        return self.post(self.url("/intake/finish"), {})

    def answer_check_in(
        self, csi: dict[str, Any] | None = None, balance: dict[str, Any] | None = None
    ) -> Any:
        path = self.url("/check-in")
        self.get(path)
        answers = {**(csi or CSI_SATISFIED), **(balance or BALANCE_MIDDLE)}
        return self.post(path, {key: str(value) for key, value in answers.items()})
