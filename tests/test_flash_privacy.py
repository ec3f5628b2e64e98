"""The session cookie is signed, not encrypted: anyone holding it can read it. The messages a
page leaves for the next one travel in it, so they name no client and no flag."""

from __future__ import annotations

import json
from typing import Any

from counselor_app.flags import CHALLENGES
from counselor_app.instruments import INTAKE_ID, SAFETY_ID, load
from marker_support import fill_every_free_text


def recording_sessions(app: Any, client: Any) -> list[dict[str, Any]]:
    """Decode the session cookie after every request ``client`` makes, as anyone could."""
    serializer = app.session_interface.get_signing_serializer(app)
    name = app.config["SESSION_COOKIE_NAME"]
    seen: list[dict[str, Any]] = []
    send = client.open

    def open_and_read(*args: Any, **kwargs: Any) -> Any:
        response = send(*args, **kwargs)
        if (cookie := client.get_cookie(name)) is not None:
            seen.append(serializer.loads(cookie.value))
        return response

    client.open = open_and_read
    return seen


def test_the_session_cookie_names_no_client_flag_or_questionnaire(app, logged_in):
    seen = recording_sessions(app, logged_in)
    filled = fill_every_free_text(app, logged_in)
    couple = f"/couples/{filled['couple_id']}"
    for action in ("close", "reopen"):
        assert logged_in.post_form(f"{couple}/{action}").status_code == 302
    markers = filled["markers"]
    erase = {"confirm_name": f"{markers['partner_a_name']} & {markers['partner_b_name']}"}
    assert logged_in.post_form(f"{couple}/erase", erase).status_code == 302

    everything = json.dumps(seen, default=str)
    assert [name for name, value in markers.items() if value in everything] == []
    titles = [title for title, *_ in CHALLENGES.values()]
    titles += [section.title for i in (INTAKE_ID, SAFETY_ID) for section in load(i).sections]
    assert [title for title in titles if title in everything] == []
    # The messages still say what was done.
    flashed = [message for session in seen for _, message in session.get("_flashes", ())]
    assert {
        "Couple added.",
        "Answers saved for partner A.",
        "Partner B's intake is complete.",
        "Flag added.",
        "Flag confirmed.",
        "Note signed and locked.",
        "Couple's file closed.",
        "Couple erased. The audit trail records that it was done.",
    } <= set(flashed)
