"""Appointments out to calendars and spreadsheets: one appointment as an .ics event, a
therapist's private feed of upcoming appointments, and the therapist's appointments as CSV rows.

What a calendar holds ends up on a phone, in a cloud calendar, on a lock screen: an event says
when, for how long, "Couple session" and the partners' initials, and nothing else (no name, no
concern, no note, not even a link to the couple's page). Times are written as UTC instants
(…Z), which every calendar app shows in its own zone, so a session on either side of a
daylight-saving change lands at the right hour. No request here: the views pass what they know.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event, vDuration
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from counselor_app.extensions import db
from counselor_app.models import Appointment, AppointmentStatus, Couple, Therapist
from counselor_app.models.base import as_utc
from counselor_app.tokens import hash_token, new_token

# A feed token as token_urlsafe writes it is 43 characters; anything far longer is no token.
TOKEN_MAX_LENGTH = 100
SUMMARY = "Couple session"
PRODUCT_ID = "-//Couples Counselor//Appointments//EN"
FEED_NAME = "Couple sessions"
# How often a subscribed calendar should fetch the feed again (apps may choose to wait longer).
REFRESH = timedelta(hours=1)
# How far back a feed looks for a session still under way (none lasts a day).
LONGEST_SESSION = timedelta(days=1)


# ------------------------------------------------------------------------------ the feed link
def has_feed(therapist: Therapist) -> bool:
    return therapist.calendar_feed_hash is not None


def make_feed(therapist: Therapist) -> str:
    """A new feed link's token (the only time it exists in clear); any earlier link stops."""
    token, therapist.calendar_feed_hash = new_token()
    db.session.flush()
    return token


def revoke_feed(therapist: Therapist) -> bool:
    """Stop the feed link at once; False when there was none."""
    if therapist.calendar_feed_hash is None:
        return False
    therapist.calendar_feed_hash = None
    db.session.flush()
    return True


def feed_owner(token: str) -> Therapist | None:
    """The active therapist whose feed ``token`` opens, or None: unknown, revoked, replaced and
    deactivated alike."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    return db.session.scalar(
        select(Therapist).where(
            Therapist.calendar_feed_hash == hash_token(token), Therapist.active.is_(True)
        )
    )


def upcoming_appointments(
    therapist: Therapist, now: datetime, horizon: timedelta
) -> list[Appointment]:
    """The therapist's scheduled appointments not over yet (one under way stays in the
    calendar until it ends), up to ``horizon`` ahead, soonest first; couples and partners
    loaded for the initials."""
    query = (
        select(Appointment)
        .join(Couple, Appointment.couple_id == Couple.id)
        .where(
            Couple.therapist_id == therapist.id,
            Appointment.status == AppointmentStatus.SCHEDULED,
            Appointment.starts_at > now - LONGEST_SESSION,
            Appointment.starts_at < now + horizon,
        )
        .options(selectinload(Appointment.couple).selectinload(Couple.partners))
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return [a for a in db.session.scalars(query) if _ends_at(a) > now]


# ------------------------------------------------------------------------------ events
@dataclass(frozen=True)
class CalendarEvent:
    """What one appointment tells a calendar, as plain values."""

    uid: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime
    summary: str
    cancelled: bool
    sequence: int  # grows with each change, so a calendar that imported it takes the update


def _ends_at(appointment: Appointment) -> datetime:
    return as_utc(appointment.starts_at) + timedelta(minutes=appointment.duration_minutes)


def initial(name: str) -> str:
    """The first letter of a name and a full stop ("A." for "Alex"); "?." with no letter."""
    letter = next((character for character in name if character.isalpha()), "?")
    return f"{letter.upper()}."


def summary_of(couple: Couple) -> str:
    """The event's title, "Couple session (A. & S.)": enough to tell couples apart, no more."""
    initials = " & ".join(initial(partner.display_name) for partner in couple.partners)
    return f"{SUMMARY} ({initials})"


def event_of(appointment: Appointment, uid_domain: str) -> CalendarEvent:
    """The appointment's event. Its UID stays the same wherever it is downloaded from (the
    single file, the feed), so a calendar holds one event per appointment."""
    return CalendarEvent(
        uid=f"appointment-{appointment.id}@{uid_domain}",
        starts_at=as_utc(appointment.starts_at),
        ends_at=_ends_at(appointment),
        summary=summary_of(appointment.couple),
        cancelled=appointment.status == AppointmentStatus.CANCELLED,
        sequence=appointment.version,
    )


def calendar(events: Sequence[CalendarEvent], now: datetime, *, feed: bool = False) -> bytes:
    """An iCalendar file (RFC 5545) of ``events``; a ``feed`` names itself and says how often
    to fetch it again."""
    ical = Calendar()
    ical.add("prodid", PRODUCT_ID)
    ical.add("version", "2.0")
    ical.add("calscale", "GREGORIAN")
    ical.add("method", "PUBLISH")
    if feed:
        ical.add("name", FEED_NAME)
        ical.add("x-wr-calname", FEED_NAME)
        ical.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        # An X- property has no known type: said to be a duration, or it is written as "1:00:00".
        ical.add("x-published-ttl", vDuration(REFRESH))
    for event in events:
        ical.add_component(_vevent(event, now))
    return ical.to_ical()


def _vevent(event: CalendarEvent, now: datetime) -> Event:
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", now)
    vevent.add("dtstart", event.starts_at)
    vevent.add("dtend", event.ends_at)
    vevent.add("summary", event.summary)
    vevent.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    vevent.add("sequence", event.sequence)
    # A calendar shared with others (a family's, a practice's) shows them "busy", not this.
    vevent.add("class", "PRIVATE")
    return vevent


# ------------------------------------------------------------------------------ CSV
APPOINTMENTS_HEADER = (
    "Date (UTC)",
    "Start (UTC)",
    "Duration (minutes)",
    "Status",
    "Couple",
    "Attendance",
)


def all_appointments(therapist: Therapist) -> list[Appointment]:
    """Every appointment of the therapist's couples (closed couples too), oldest first."""
    query = (
        select(Appointment)
        .join(Couple, Appointment.couple_id == Couple.id)
        .where(Couple.therapist_id == therapist.id)
        .options(selectinload(Appointment.couple).selectinload(Couple.partners))
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return list(db.session.scalars(query))


def appointment_rows(appointments: Sequence[Appointment]) -> Iterator[tuple[str | int, ...]]:
    """One row per appointment. The couple's name is in (the therapist's own spreadsheet, as
    their dashboard shows it); nothing clinical is: no concern, note, score or plan."""
    for appointment in appointments:
        starts_at = as_utc(appointment.starts_at)
        yield (
            f"{starts_at:%Y-%m-%d}",
            f"{starts_at:%H:%M}",
            appointment.duration_minutes,
            appointment.status.label,
            appointment.couple.display_name,
            appointment.attendance_label if appointment.attendance else "",
        )
