"""Who is signed in to our pages: a therapist of ours, through our own sign-in when we run
standalone, or through the host's sign-in (the ``identity`` callable) when mounted.

Our code never reads Flask-Login's ``current_user``: in a host app that is the host's user,
and taking it for a therapist of ours is how one clinician would see another's couples.
"""

from __future__ import annotations

from typing import Any, cast

from flask import current_app, g
from flask_login import current_user
from werkzeug.local import LocalProxy

from counselor_app.auth import services
from counselor_app.extensions import db, state
from counselor_app.models import Therapist

_UNSET = object()


def signed_in_therapist() -> Therapist | None:
    """The therapist this request acts for, looked up once per request; None if nobody is."""
    found: Therapist | None = g.get("counselor_therapist", _UNSET)
    if found is _UNSET:
        found = g.counselor_therapist = _look_up()
    return found


def forget_therapist() -> None:
    """After signing in or out: the next look-up sees the new state."""
    g.pop("counselor_therapist", None)


def _look_up() -> Therapist | None:
    identity = state().identity
    if identity is None:
        user = current_user._get_current_object()  # type: ignore[attr-defined]
        return user if isinstance(user, Therapist) and user.is_authenticated else None
    person = identity()
    if person is None:
        return None
    therapist = therapist_of(person)
    if db.session.new or db.session.dirty:
        # Kept at once, so a request refused or answered without a commit (a 403, a PDF)
        # still records what the host said; most requests change nothing and commit nothing.
        db.session.commit()
    return therapist


def therapist_of(person: Any) -> Therapist | None:
    """Our therapist for what a host's identity callable returned (made on first meeting,
    kept in step); None when deactivated. Flushes only."""
    return services.provision(
        external_id=str(person.external_id),
        name=str(person.name),
        email=str(person.email),
        is_admin=bool(person.is_admin),
        adopt_by_email=current_app.config["COUNSELOR_ADOPT_ACCOUNTS_BY_EMAIL"],
    )


def host_user_signed_in() -> bool:
    """Mounted: is someone signed in to the host (who may not be a clinician)?"""
    user: Any = current_user
    try:
        return bool(user.is_authenticated)
    except (AttributeError, RuntimeError):
        return False  # the host has no Flask-Login of its own


# Falsy when nobody is signed in, so templates and code can say `if current_therapist`.
current_therapist = cast(Therapist, LocalProxy(signed_in_therapist))
