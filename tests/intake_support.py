"""Helpers for entering intakes in tests: through the web pages, or straight into the database."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from counselor_app.assessment.services import rescore
from counselor_app.extensions import db
from counselor_app.instruments import CSI4_ID, INTAKE_ID, SAFETY_ID, load
from counselor_app.intake.services import intake_version, steps
from counselor_app.models import Couple, Response, ResponseStatus
from counselor_app.models.base import utcnow
from vignettes import NEUTRAL, SAFE, on_intake_v2

VERSION = re.compile(r'name="version" type="hidden" value="(\d*)"')
CSI_SATISFIED = {"csi_1": 4, "csi_2": 4, "csi_3": 4, "csi_4": 4}  # total 16, above 13.5
CSI_DISTRESSED = {"csi_1": 2, "csi_2": 2, "csi_3": 2, "csi_4": 2}  # total 8


def step_url(couple_id: int, label: str, slug: str, prefix: str = "") -> str:
    """``prefix``: where the package is mounted ("" standalone, "/couples-therapy" in a host)."""
    return f"{prefix}/couples/{couple_id}/intake/{label.lower()}/{slug}"


def page_version(client: Any, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = VERSION.search(page)
    assert match, f"no version field on {url}"
    return match.group(1)


def post_step(
    client: Any,
    couple_id: int,
    label: str,
    slug: str,
    values: dict[str, Any],
    action: str = "next",
    version: str | None = None,
    prefix: str = "",
) -> Any:
    url = step_url(couple_id, label, slug, prefix)
    if version is None:
        version = page_version(client, url)
    data = {key: str(value) for key, value in values.items()}
    return client.post_form(url, {**data, "version": version, "action": action})


def enter_intake_via_web(
    client: Any,
    couple_id: int,
    label: str,
    intake: dict[str, Any] | None = None,
    csi: dict[str, Any] | None = None,
    safety: dict[str, Any] | None = None,
    complete: bool = True,
    prefix: str = "",
) -> None:
    answers = {**on_intake_v2(intake or NEUTRAL), **(csi or CSI_SATISFIED), **(safety or SAFE)}
    with client.application.app_context():
        version = intake_version(couple_id)
    for step in steps(version):
        values = {item.id: answers[item.id] for item in step.section.items if item.id in answers}
        response = post_step(client, couple_id, label, step.slug, values, prefix=prefix)
        assert response.status_code == 302, (step.slug, response.get_data(as_text=True)[:3000])
    if complete:
        response = client.post_form(step_url(couple_id, label, "review", prefix))
        assert response.status_code == 302, response.get_data(as_text=True)[-3000:]


def seed_intake(
    app: Flask,
    couple_id: int,
    label: str,
    intake: dict[str, Any] | None = None,
    csi: dict[str, Any] | None = None,
    safety: dict[str, Any] | None = None,
    complete: bool = True,
    intake_version: int = 2,
) -> None:
    """Store a partner's three responses directly, then re-score, as completing would.

    Intake answers written for version 1 are stored on version 2 with the statements v2 added
    at "Neither agree nor disagree", unless ``intake_version=1`` stores them as a response
    given before version 2 existed."""
    if intake_version == 2:
        intake = on_intake_v2(intake or NEUTRAL)
    with app.app_context():
        couple = db.session.get(Couple, couple_id)
        partner = next(p for p in couple.partners if p.label == label)
        for instrument_id, answers, version in (
            (INTAKE_ID, intake or NEUTRAL, intake_version),
            (CSI4_ID, csi or CSI_SATISFIED, load(CSI4_ID).version),
            (SAFETY_ID, safety or SAFE, load(SAFETY_ID).version),
        ):
            db.session.add(
                Response(
                    couple_id=couple_id,
                    partner_id=partner.id,
                    instrument_id=instrument_id,
                    instrument_version=version,
                    answers=dict(answers),
                    status=ResponseStatus.COMPLETE if complete else ResponseStatus.DRAFT,
                    completed_at=utcnow() if complete else None,
                )
            )
        db.session.flush()
        rescore(couple)
        db.session.commit()
