"""Put a distinct marker string into every free-text field a therapist can fill, through the
web pages as a browser would, so tests can look for the markers where they must never be."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from appointment_support import Visit, seed_history
from counselor_app.extensions import db
from counselor_app.instruments import INTAKE_ID, SAFETY_ID, load
from counselor_app.models import Flag
from intake_support import enter_intake_via_web
from plan_support import new_plan, plan_form
from vignettes import SAFE, VIGNETTES

# Identifiers the dashboard searches by; encrypting them would need a blind index (see README).
STORED_IN_CLEAR = frozenset({"partner_a_name", "partner_b_name"})
MONEY = next(v for v in VIGNETTES if v.name == "money_fights")


def marker(field: str) -> str:
    return f"MARKER{field.upper().replace('_', '').replace('-', '')}ZQX"


def text_items(instrument_id: str) -> list[str]:
    instrument = load(instrument_id)
    return [
        item.id for section in instrument.sections for item in section.items if item.kind == "text"
    ]


def fill_every_free_text(app: Flask, client: Any) -> dict[str, Any]:
    """Enter a couple whose every free-text field holds a marker; return the markers and ids."""
    markers = {
        name: marker(name)
        for name in (
            "partner_a_name",
            "partner_b_name",
            "partner_a_pronouns",
            "partner_b_pronouns",
            "presenting_concerns",
            "flag_confirm_note",
            "flag_dismiss_reason",
            "flag_added_note",
            "safety_decision_note",
            "plan_goals",
            "plan_private_notes",
            "plan_homework",
            "plan_agenda_notes",
            "note_data",
            "note_assessment",
            "note_plan",
            "addendum",
            "private_note",
        )
    }
    for item_id in (*text_items(INTAKE_ID), *text_items(SAFETY_ID)):
        markers[f"answer_{item_id}"] = marker(f"answer_{item_id}")
    couple_id = _couple(client, markers)
    _intakes(client, couple_id, markers)
    _flags(app, client, couple_id, markers)
    plan_id = _plan(client, couple_id, markers)
    appointment_id = _appointment(app, client, couple_id, markers)
    return {"markers": markers, "couple_id": couple_id, "plan_id": plan_id,
            "appointment_id": appointment_id}  # fmt: skip


def _ok(response: Any) -> None:
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:2000]


def _couple(client: Any, markers: dict[str, str]) -> int:
    response = client.post_form(
        "/couples/new",
        {
            "partner_a-display_name": markers["partner_a_name"],
            "partner_a-pronouns": markers["partner_a_pronouns"],
            "partner_a-email": "",
            "partner_b-display_name": markers["partner_b_name"],
            "partner_b-pronouns": markers["partner_b_pronouns"],
            "partner_b-email": "",
            "relationship_stage": "married",
            "length_years": "4",
            "length_months": "0",
            "presenting_concerns": markers["presenting_concerns"],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def _intakes(client: Any, couple_id: int, markers: dict[str, str]) -> None:
    for label, answers in (("A", MONEY.a), ("B", MONEY.b)):
        texts = {item_id: markers[f"answer_{item_id}"] + label for item_id in text_items(INTAKE_ID)}
        [safety_note] = text_items(SAFETY_ID)
        enter_intake_via_web(
            client,
            couple_id,
            label,
            intake={**answers, **texts},
            safety={
                **SAFE,
                "saf_fear": "yes",
                safety_note: markers[f"answer_{safety_note}"] + label,
            },
        )


def _flags(app: Flask, client: Any, couple_id: int, markers: dict[str, str]) -> None:
    _ok(
        client.post_form(
            f"/couples/{couple_id}/flags/new",
            {
                "add-challenge_key": "boundary_strain",
                "add-severity": "moderate",
                "add-partners": "B",
                "add-note": markers["flag_added_note"],
            },
        )
    )
    with app.app_context():
        raised = db.session.scalars(
            select(Flag).where(Flag.couple_id == couple_id).order_by(Flag.id)
        ).all()
        first, added = raised[0], raised[-1]
    for flag, kind, field, name in (
        (first, "confirm", "note", "flag_confirm_note"),
        (added, "dismiss", "reason", "flag_dismiss_reason"),
    ):
        prefix = f"flag{flag.id}-{kind}"
        _ok(
            client.post_form(
                f"/couples/{couple_id}/flags/{flag.id}/{kind}",
                {f"{prefix}-{field}": markers[name], f"{prefix}-version": str(flag.version)},
            )
        )
    page = client.get(f"/couples/{couple_id}/assessment").get_data(as_text=True)
    fields = plan_form(page)
    _ok(
        client.post_form(
            f"/couples/{couple_id}/safety/decision",
            {
                "safety-decision": "joint_ok",
                "safety-note": markers["safety_decision_note"],
                "safety-version": fields.get("safety-version", "1"),
            },
        )
    )
    # The private notes were read: joint handouts may then be issued.
    _ok(
        client.post_form(
            f"/couples/{couple_id}/safety/notice/acknowledge",
            {"notice-version": fields.get("notice-version", "1")},
        )
    )


def _plan(client: Any, couple_id: int, markers: dict[str, str]) -> int:
    return new_plan(
        client,
        couple_id,
        strategies=["quality_time"],
        goals=markers["plan_goals"],
        private_notes=markers["plan_private_notes"],
        **{
            "homework-0-text": markers["plan_homework"],
            "agenda-0-notes": markers["plan_agenda_notes"],
        },
    )


def _appointment(app: Flask, client: Any, couple_id: int, markers: dict[str, str]) -> int:
    [appointment_id] = seed_history(app, couple_id, [Visit(csi={"A": 12, "B": 13})])
    base = f"/couples/{couple_id}/appointments/{appointment_id}"
    _ok(
        client.post_form(
            f"{base}/private-note",
            {"private-text": markers["private_note"], "private-version": "0"},
        )
    )
    _ok(
        client.post_form(
            f"{base}/note",
            {
                "note-dap_data": markers["note_data"],
                "note-dap_assessment": markers["note_assessment"],
                "note-dap_plan": markers["note_plan"],
                "note-version": "0",
                "action": "sign",
            },
        )
    )
    _ok(client.post_form(f"{base}/note/addenda", {"addendum-text": markers["addendum"]}))
    return appointment_id
