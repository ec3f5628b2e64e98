"""No client text reaches the logs or a URL (which access logs record)."""

from __future__ import annotations

import logging

from flask import request
from sqlalchemy import select, text

from conftest import login
from counselor_app.extensions import db
from counselor_app.models import Flag, IssuedDocument
from marker_support import fill_every_free_text, marker
from route_walk import routes

QUOTED = marker("quoted_in_error")


def record_urls(app) -> list[str]:
    """Every request line and redirect target the app handles from now on."""
    seen: list[str] = []

    @app.after_request
    def remember(response):
        seen.extend((request.full_path, response.headers.get("Location", "")))
        return response

    return seen


def test_no_client_text_reaches_the_logs_or_a_url(app, client, therapist, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    urls = record_urls(app)
    login(client, therapist)
    filled = fill_every_free_text(app, client)
    markers = filled["markers"]
    couple_id, plan_id = filled["couple_id"], filled["plan_id"]
    client.post_form(f"/couples/{couple_id}/plans/{plan_id}/issue/handout")
    with app.app_context():
        ids = {
            "couple_id": couple_id,
            "plan_id": plan_id,
            "appointment_id": filled["appointment_id"],
            "flag_id": db.session.scalar(select(Flag.id).where(Flag.couple_id == couple_id)),
            "document_id": db.session.scalar(select(IssuedDocument.id)),
            "therapist_id": therapist.id,
            # Rows the couple has none of, and secrets nobody was given: each page a 404,
            # which must log nothing of the couple either.
            "invitation_id": 2**31 - 1,
            "check_in_id": 2**31 - 1,
            "link_token": "no-such-link-" + "x" * 30,
            "feed_token": "no-such-feed-" + "y" * 30,
        }
    # Every page, the search, a refused form, a conflict, and the exports.
    for route in routes(app):
        if "GET" in route.methods:
            client.get(route.url(ids)).close()
    client.post_form("/search", {"q": markers["partner_a_name"], "status": "all"})
    client.get("/")
    refused = client.post_form(
        f"/couples/{couple_id}/edit", {"presenting_concerns": markers["presenting_concerns"]}
    )
    assert refused.status_code == 422
    stale = client.post_form(
        f"/couples/{couple_id}/plans/{plan_id}/edit",
        {"goals": markers["plan_goals"], "version": "0", "session_date": "2026-01-01"},
    )
    assert stale.status_code in (409, 422)
    assert client.get(f"/couples/{couple_id}/export.zip").status_code == 200

    # A damaged record is logged (where, not what): proof that the capture is live.
    with app.app_context():
        db.session.execute(
            text(
                "UPDATE counselor_couple SET presenting_concerns = 'gAAAAAdamaged' WHERE id = :id"
            ),
            {"id": couple_id},
        )
        db.session.commit()
    assert client.get(f"/couples/{couple_id}").status_code == 200  # shown as unreadable
    assert f"counselor_couple.presenting_concerns in row id {couple_id}" in caplog.text
    in_logs = sorted(name for name, value in markers.items() if value in caplog.text)
    in_urls = sorted(name for name, value in markers.items() if any(value in u for u in urls))
    assert in_logs == []
    assert in_urls == []
    assert len(urls) > 100  # the walk really went through the pages


def test_an_error_that_quotes_client_text_is_logged_without_it(app, client, therapist, caplog):
    @app.route("/fails-quoting-input")
    def fails_quoting_input():
        try:
            raise KeyError(f"lookup of {QUOTED}")
        except KeyError as error:
            raise ValueError(f'invalid input syntax for type integer: "{QUOTED}"') from error

    app.config["PROPAGATE_EXCEPTIONS"] = False  # handled as in production: a 500 page
    caplog.set_level(logging.DEBUG)
    login(client, therapist)
    response = client.get("/fails-quoting-input")
    assert response.status_code == 500
    assert QUOTED not in response.get_data(as_text=True)
    log = caplog.text
    assert "Exception on /fails-quoting-input [GET]" in log
    # Where it happened and what kind of error it was are kept; the messages are not.
    assert "builtins.ValueError (message withheld" in log
    assert "builtins.KeyError (message withheld" in log
    assert "fails_quoting_input" in log  # the frame
    assert QUOTED not in log
