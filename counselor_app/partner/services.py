"""A partner's session: the cookie that a personal link is exchanged for, and what their pages
say about the practice and the time it takes.

The cookie is separate from any therapist's (or host user's) session: signed with the app's
secret key, limited to the partner pages' path, and naming one invitation and the hash of the
link it was opened with. A link made again or revoked ends every session opened with the old
one; a session left alone for COUNSELOR_PARTNER_SESSION_MINUTES ends too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from counselor_app.appointments.services import CHECK_IN_MEASURES
from counselor_app.extensions import state
from counselor_app.instruments import load
from counselor_app.intake.services import INSTRUMENT_ORDER
from counselor_app.invitations import services as invitations
from counselor_app.models import Invitation, InvitationPurpose
from counselor_app.plans.services import practice

COOKIE_NAME = "counselor_partner"
SALT = "counselor-partner-session"
# Where the partner pages live under our prefix (the blueprint's url_prefix).
PAGES_PATH = "/answer"
# Said to a partner in danger when the practice has named no crisis line of its own.
# The page puts "If you are in danger now:" before it, as before a practice's own line.
DEFAULT_CRISIS_LINE = "Call your local emergency number."


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=SALT)


def idle_limit() -> timedelta:
    return timedelta(minutes=int(current_app.config["COUNSELOR_PARTNER_SESSION_MINUTES"]))


def cookie_path() -> str:
    return f"{request.script_root}{state().url_prefix}{PAGES_PATH}"


def signed_in_invitation() -> Invitation | None:
    """The invitation this browser's partner session names, while it still lets them in."""
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    try:
        data: Any = _serializer().loads(value, max_age=int(idle_limit().total_seconds()))
        invitation_id, token_hash = int(data["i"]), str(data["h"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return invitations.still_open(invitation_id, token_hash)


def keep_session(response: Response, invitation: Invitation) -> None:
    """(Re)set the cookie: every page a partner opens starts the idle time again."""
    value = _serializer().dumps({"i": invitation.id, "h": invitation.token_hash})
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=int(idle_limit().total_seconds()),
        path=cookie_path(),
        secure=request.is_secure,
        httponly=True,
        # Lax: the link is opened from a mail or a scanned code, another site.
        samesite="Lax",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path=cookie_path(), secure=request.is_secure)


@dataclass(frozen=True)
class Practice:
    """What a partner's pages and slip say about who is asking."""

    name: str
    therapist: str
    contact_line: str
    crisis_line: str


def practice_of(invitation: Invitation) -> Practice:
    settings = practice()
    return Practice(
        name=settings.name or "Your therapist's practice",
        # Whose couple it is now (a file can pass to a colleague), not who made the link.
        therapist=invitation.couple.therapist.name,
        contact_line=settings.contact_line,
        crisis_line=settings.crisis_line or DEFAULT_CRISIS_LINE,
    )


def minutes_needed(purpose: InvitationPurpose) -> int:
    """How long the questions take, from the instruments' own estimates."""
    measures = INSTRUMENT_ORDER if purpose == InvitationPurpose.INTAKE else CHECK_IN_MEASURES
    return sum(load(instrument_id).estimated_minutes or 1 for instrument_id in measures)
