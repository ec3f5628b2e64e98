"""Request plumbing every area shares: our URLs under whatever name the host gave us, ids in
URLs, and the headers our pages carry."""

from __future__ import annotations

from typing import Any

import flask
from flask import Response, request
from flask_wtf import FlaskForm
from jinja2 import pass_context
from jinja2.runtime import Context
from werkzeug.routing import IntegerConverter

from counselor_app.extensions import state

# The parent blueprint's own routes: files and checks that hold no client data, for which
# nobody is looked up and nothing is audited.
PUBLIC_FILES = frozenset({"static", "print_css", "health"})

# Registered under a name of our own: the host's converters (an `id` of its own) stay its own.
CONVERTER = "counselor_id"


class IdConverter(IntegerConverter):
    """Database ids in URLs: a number beyond what a key column holds is a 404, not a 500."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **{"max": 2**31 - 1, **kwargs})


def counselor_url(endpoint: str, **values: Any) -> str:
    """``url_for`` for our own pages, named without the parent blueprint ("couple.plans.detail"):
    the parent's name is the host's choice. Names starting with a dot stay relative."""
    if not endpoint.startswith("."):
        endpoint = f"{state().name}.{endpoint}"
    return flask.url_for(endpoint, **values)


def renew_csrf_token() -> None:
    """Give this session's forms a new CSRF token from now on (Flask-WTF keeps its secret in
    the session, and the token of this request in ``g``): one known before signing in (from a
    planted session cookie, or read off a shared computer) must not work after it, nor the
    signed-in session's once it has ended. Only for a session that is ours to change."""
    name = flask.current_app.config["WTF_CSRF_FIELD_NAME"]
    flask.session.pop(name, None)
    flask.g.pop(name, None)


# A partner's personal link (exchanged for their session) and their pages (partner.views):
# never a therapist's (or host user's) sign-in, and a layout of their own.
PARTNER_LINK = "partner_link"


def is_partner_page(endpoint: str) -> bool:
    return endpoint == PARTNER_LINK or endpoint.startswith("partner.")


def local_endpoint() -> str:
    """This request's endpoint without the parent's name ("couple.plans.detail"), or ""."""
    prefix = state().name + "."
    endpoint = request.endpoint or ""
    return endpoint.removeprefix(prefix) if endpoint.startswith(prefix) else ""


# No inline script anywhere (the pages' scripts are files). Styles may be inline: the progress
# charts are inline SVG that carry their own <style>, and style cannot run code.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


def security_headers(response: Response) -> Response:
    """Headers every response of ours carries; HSTS only when the request came over HTTPS."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # A view may ask for less (the partner link's redirect: no-referrer); never for more.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure:
        # No includeSubDomains: mounted in a host, we must not commit the host's whole domain.
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _refused(value: Any) -> bool:
    """A form refused on this request, in a context value: the form, or a plain dict, list or
    tuple holding it (the appointment page's forms). Only plain ones: the session and the
    config are dicts too, and reading the session would mark the response as varying by it."""
    if isinstance(value, FlaskForm):
        return bool(value.errors)
    if type(value) is dict:
        return any(_refused(item) for item in value.values())
    if type(value) in (list, tuple):
        return any(_refused(item) for item in value)
    return False


@pass_context
def form_failed(context: Context) -> bool:
    """Whether the page shows a refusal, for our layouts' "Error:" title prefix (the title is
    drawn before the form, so the form's own macro cannot say it): a refused form among the
    page's values, or a page that says so itself (``{% set counselor_refused = ... %}`` at its
    top level, for a refusal that is no form's: an intake not complete yet). A template
    global rather than a render signal: mounted, nothing of ours may run on the host's renders.
    """
    values = context.get_all()
    return bool(values.get("counselor_refused")) or any(_refused(v) for v in values.values())
