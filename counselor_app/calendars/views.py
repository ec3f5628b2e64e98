"""Appointments out to calendars and spreadsheets.

The feed's link exists in clear only in the response that made it (the settings page, as the
partners' links on the invitation delivery page); afterwards it can be replaced or stopped,
never shown again. The feed itself is an open page: a calendar app fetches it with no sign-in,
so the link is all that opens it, and each fetch is recorded in the audit trail here.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
)

from counselor_app import csvfile
from counselor_app.audit import services as audit
from counselor_app.audit.views import nothing_done
from counselor_app.auth.identity import current_therapist
from counselor_app.calendars import services
from counselor_app.couples.views import child_or_404
from counselor_app.extensions import db
from counselor_app.forms.base import ActionForm
from counselor_app.models import Appointment
from counselor_app.models.base import utcnow
from counselor_app.web import counselor_url, local_endpoint

# The therapist's own: the private feed's settings, the feed itself, the appointments CSV.
bp = Blueprint("calendars", __name__, url_prefix="/calendar")
# One appointment as an .ics event, under the couple: /couples/<id>/calendar/...
couple_calendar_bp = Blueprint("calendar", __name__, url_prefix="/calendar")

ICS_MIMETYPE = "text/calendar"
FEED_ENDPOINT = "calendars.feed"


def _uid_domain() -> str:
    """The site's host name: with the appointment's id, an event UID no other site makes."""
    return urlsplit(request.host_url).hostname or "localhost"


def _ics(body: bytes, filename: str) -> Response:
    response = Response(body, mimetype=ICS_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ------------------------------------------------------------------------------ the settings
@bp.route("")
def settings() -> str:
    """The private feed: whether there is one, and making, replacing or stopping it."""
    return _settings_page()


def _settings_page(link: str | None = None) -> str:
    return render_template(
        "counselor/calendars/settings.html",
        has_feed=services.has_feed(current_therapist),
        link=link,
        subscribe_link="webcal://" + link.split("://", 1)[1] if link else None,
        horizon_days=current_app.config["COUNSELOR_CALENDAR_FEED_DAYS"],
    )


@bp.route("/feed-link", methods=["POST"])
def make_feed() -> tuple[str, int]:
    """A new feed link, shown once on this response; the link before it (if any) stops."""
    if not ActionForm().validate_on_submit():
        abort(400)
    token = services.make_feed(current_therapist)
    db.session.commit()
    link = counselor_url(FEED_ENDPOINT, token=token, _external=True)
    return _settings_page(link), 201


@bp.route("/feed-link/revoke", methods=["POST"])
def revoke_feed() -> Response:
    """Stop the feed link now: subscribed calendars get nothing more from it."""
    if not ActionForm().validate_on_submit():
        abort(400)
    if services.revoke_feed(current_therapist):
        db.session.commit()
        flash("The calendar feed link no longer works.", "success")
    else:
        nothing_done()  # there was no feed to stop
    return redirect(counselor_url("calendars.settings"))


# ------------------------------------------------------------------------------ the feed
@bp.route("/feed/<token>.ics")
def feed(token: str) -> Response:
    """The therapist's upcoming scheduled appointments, for a calendar app to subscribe to.

    Open (mount.OPEN_ENDPOINTS): the link's token is the only key, so an unknown, replaced
    or revoked one is a plain 404."""
    therapist = services.feed_owner(token)
    if therapist is None:
        abort(404)
    now = utcnow()
    horizon = timedelta(days=current_app.config["COUNSELOR_CALENDAR_FEED_DAYS"])
    domain = _uid_domain()
    events = [
        services.event_of(a, domain)
        for a in services.upcoming_appointments(therapist, now, horizon)
    ]
    body = services.calendar(events, now, feed=True)
    # Recorded here: no therapist is signed in, so the audit hook does not see this request.
    audit.record(
        "export",
        therapist_id=therapist.id,
        object_type="calendar_feed",
        endpoint=local_endpoint(),
        address=request.remote_addr or "",
    )
    db.session.commit()
    response = Response(body, mimetype=ICS_MIMETYPE)
    response.headers["Content-Disposition"] = 'inline; filename="couple-sessions.ics"'
    # Appointment times of one therapist: no proxy keeps a copy, no search engine lists it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# ------------------------------------------------------------------------------ CSV
@bp.route("/appointments.csv")
def appointments_csv() -> Response:
    """Every appointment of the therapist's own couples, for their spreadsheet."""
    rows = services.appointment_rows(services.all_appointments(current_therapist))
    return csvfile.response(
        f"appointments-{utcnow():%Y-%m-%d}.csv", services.APPOINTMENTS_HEADER, list(rows)
    )


# ------------------------------------------------------------------------------ one event
@couple_calendar_bp.route("/appointments/<counselor_id:appointment_id>.ics")
def appointment(appointment_id: int) -> Response:
    """One appointment of the couple's as an .ics event, to add to a calendar by hand."""
    found = child_or_404(Appointment, appointment_id)
    body = services.calendar([services.event_of(found, _uid_domain())], utcnow())
    return _ics(body, f"appointment-{found.starts_at:%Y-%m-%d}.ics")
