"""Appointments out to calendars: one appointment as an .ics event, and a therapist's private
feed of upcoming appointments. Parsed back with icalendar: the UTC instants across a daylight-
saving change, the length, the initials-only summary; nothing else of the couple in the file;
the feed's link revocable, stored only hashed; every download in the audit trail. Standalone,
and mounted in the reference host where the set-up differs (the feed opens with no sign-in).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from conftest import add_couple, login
from counselor_app.calendars import services
from counselor_app.errors import RedactPartnerLinks
from counselor_app.extensions import db
from counselor_app.models import Appointment, AppointmentStatus, AuditEvent, Therapist
from counselor_app.models.base import utcnow
from host_support import PREFIX, clinician, host, host_template, other_clinician  # noqa: F401
from snapshot_support import snapshot

CONCERNS = "ZQXCONCERN arguing about the in-laws"
# Either side of the 2026 change to summer time in North America (8 March) and a week before
# Europe's: stored in UTC, they must come back as exactly these instants.
BEFORE_DST = datetime(2026, 3, 7, 19, 0, tzinfo=UTC)
AFTER_DST = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)
FEED_LINK = re.compile(r'id="feed-link"[^>]*value="([^"]+)"')


def add_appointment(app, couple_id, starts_at, *, minutes=60, status="scheduled") -> int:
    with app.app_context():
        appointment = Appointment(
            couple_id=couple_id,
            starts_at=starts_at,
            duration_minutes=minutes,
            status=AppointmentStatus(status),
        )
        db.session.add(appointment)
        db.session.commit()
        return appointment.id


def events_of(body: bytes) -> list:
    return Calendar.from_ical(body).walk("VEVENT")


def audit_rows(app) -> list[tuple]:
    with app.app_context():
        return [
            (e.action, e.therapist_id, e.object_type, e.object_id, e.couple_id, e.endpoint)
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def make_feed(client, prefix: str = "") -> str:
    """Make (or replace) the signed-in therapist's feed link; the link as the page shows it."""
    response = client.post_form(f"{prefix}/calendar/feed-link")
    assert response.status_code == 201, response.get_data(as_text=True)[:2000]
    page = response.get_data(as_text=True)
    assert "Shown only now" in page
    return FEED_LINK.search(page).group(1)


def feed_path(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


# ------------------------------------------------------------------------------ one event
@pytest.mark.parametrize(
    ("name", "expected"),
    [("Alex", "A."), ("élodie", "É."), ("=HYPERLINK(x)", "H."), ("  sam", "S."), ("42", "?.")],
)
def test_an_initial_is_one_letter(name, expected):
    assert services.initial(name) == expected


def test_an_appointment_downloads_as_its_utc_instants_across_a_dst_change(
    app, logged_in, therapist
):
    couple_id = add_couple(app, therapist.id, ("Alex", "Sam"), concerns=CONCERNS)
    before = add_appointment(app, couple_id, BEFORE_DST, minutes=50)
    after = add_appointment(app, couple_id, AFTER_DST, minutes=90, status="cancelled")

    downloaded = {}
    for appointment_id in (before, after):
        response = logged_in.get(f"/couples/{couple_id}/calendar/appointments/{appointment_id}.ics")
        assert response.status_code == 200
        assert response.mimetype == "text/calendar"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        body = response.get_data()
        for private in (b"Alex", b"Sam", b"ZQXCONCERN", b"in-laws", b"Dana"):
            assert private not in body, private
        (event,) = events_of(body)
        downloaded[appointment_id] = (event, body)

    event, body = downloaded[before]
    assert event.decoded("dtstart") == BEFORE_DST
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=50)
    assert b"DTSTART:20260307T190000Z" in body  # an instant in UTC, no zone to interpret
    assert str(event["summary"]) == "Couple session (A. & S.)"
    assert str(event["status"]) == "CONFIRMED"
    event, body = downloaded[after]
    assert event.decoded("dtstart") == AFTER_DST
    assert event.decoded("dtend") == AFTER_DST + timedelta(minutes=90)
    assert b"DTSTART:20260309T180000Z" in body
    assert str(event["status"]) == "CANCELLED"
    # The same appointment keeps one UID, so a calendar holds one event for it.
    assert str(event["uid"]) == f"appointment-{after}@localhost"

    exports = [row for row in audit_rows(app) if row[0] == "export"]
    assert exports == [
        (
            "export",
            therapist.id,
            "appointment",
            appointment_id,
            couple_id,
            "couple.calendar.appointment",
        )
        for appointment_id in (before, after)
    ]


def test_the_appointment_pages_link_to_the_ics(app, logged_in, therapist):
    couple_id = add_couple(app, therapist.id)
    appointment_id = add_appointment(app, couple_id, BEFORE_DST)
    url = f"/couples/{couple_id}/calendar/appointments/{appointment_id}.ics"
    for page in (
        f"/couples/{couple_id}/appointments",
        f"/couples/{couple_id}/appointments/{appointment_id}",
    ):
        assert f'href="{url}"' in logged_in.get(page).get_data(as_text=True), page
    assert 'href="/calendar"' in logged_in.get("/").get_data(as_text=True)


def test_another_therapists_appointment_is_a_404(app, client, therapist, make_therapist):
    """Their couple in the URL, or one's own couple with their (or one's other couple's)
    appointment id: a 404 naming nobody. And signed out: to the sign-in page."""
    other = make_therapist("Toni Elsewhere")
    own = add_couple(app, therapist.id, ("Alex", "Sam"))
    sibling = add_couple(app, therapist.id, ("Robin", "Kim"))
    theirs = add_couple(app, other.id, ("Jordan", "Lee"))
    own_appointment = add_appointment(app, own, BEFORE_DST)
    sibling_appointment = add_appointment(app, sibling, BEFORE_DST)
    their_appointment = add_appointment(app, theirs, BEFORE_DST)
    path = "/couples/{}/calendar/appointments/{}.ics"

    response = client.get(path.format(own, own_appointment))
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    login(client, therapist)
    assert client.get(path.format(own, own_appointment)).status_code == 200  # the control
    for couple_id, appointment_id in (
        (theirs, their_appointment),  # another therapist's couple
        (own, their_appointment),  # one's own couple, another therapist's appointment
        (own, sibling_appointment),  # one's own couple, one's other couple's appointment
    ):
        response = client.get(path.format(couple_id, appointment_id))
        assert response.status_code == 404, (couple_id, appointment_id)
        assert not re.search(r"Jordan|Lee|Robin|Kim", response.get_data(as_text=True))
    assert not [
        row for row in audit_rows(app) if row[3] in (sibling_appointment, their_appointment)
    ]


# ------------------------------------------------------------------------------ the feed
def test_the_feed_holds_only_upcoming_scheduled_appointments_of_its_therapist(
    app, client, logged_in, therapist, make_therapist
):
    other = make_therapist("Toni Elsewhere")
    couple_id = add_couple(app, therapist.id, ("Alex", "Sam"), concerns=CONCERNS)
    second = add_couple(app, therapist.id, ("robin", "Kim"), concerns=CONCERNS)
    theirs = add_couple(app, other.id, ("Jordan", "Lee"))
    now = utcnow().replace(microsecond=0)
    soon = add_appointment(app, couple_id, now + timedelta(days=2), minutes=45)
    later = add_appointment(app, second, now + timedelta(days=9))
    under_way = add_appointment(app, couple_id, now - timedelta(minutes=20), minutes=60)
    left_out = [
        add_appointment(app, couple_id, now - timedelta(days=3)),  # over
        add_appointment(app, couple_id, now - timedelta(hours=3)),  # over today
        add_appointment(app, couple_id, now + timedelta(days=3), status="cancelled"),
        add_appointment(app, couple_id, now - timedelta(days=7), status="completed"),
        add_appointment(app, couple_id, now + timedelta(days=400)),  # past the horizon
        add_appointment(app, theirs, now + timedelta(days=2)),  # another therapist's
    ]
    with app.app_context():
        db.session.get(Appointment, soon).couple.partners[0].email = "a@b.example"
        db.session.commit()

    link = make_feed(logged_in)
    assert link.startswith("http://localhost/calendar/feed/") and link.endswith(".ics")
    anonymous = app.test_client()  # a calendar app: no session, no cookie
    response = anonymous.get(feed_path(link))
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    for private in (b"Alex", b"Sam", b"obin", b"Kim", b"Jordan", b"ZQXCONCERN", b"in-laws"):
        assert private not in body, private
    for private in (b"a@b.example", b"Dana", b"Whitfield", therapist.email.encode()):
        assert private not in body, private

    ical = Calendar.from_ical(body)
    assert str(ical["x-wr-calname"]) == "Couple sessions"
    found = {int(str(e["uid"]).split("-")[1].split("@")[0]): e for e in ical.walk("VEVENT")}
    assert list(found) == [under_way, soon, later]
    assert not set(found) & set(left_out)
    assert found[soon].decoded("dtstart") == now + timedelta(days=2)
    assert found[soon].decoded("dtend") == now + timedelta(days=2, minutes=45)
    assert str(found[soon]["summary"]) == "Couple session (A. & S.)"
    assert str(found[later]["summary"]) == "Couple session (R. & K.)"

    # Each fetch is in the audit trail, as the therapist's feed, with no couple named.
    fetches = [row for row in audit_rows(app) if row[-1] == "calendars.feed"]
    assert fetches == [("export", therapist.id, "calendar_feed", None, None, "calendars.feed")]


def test_the_feed_writes_utc_instants_across_a_dst_change(app, therapist):
    """The feed's own path from appointments to file, with the clock set before the change."""
    couple_id = add_couple(app, therapist.id)
    add_appointment(app, couple_id, BEFORE_DST, minutes=50)
    add_appointment(app, couple_id, AFTER_DST, minutes=90)
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        owner = db.session.get(Therapist, therapist.id)
        upcoming = services.upcoming_appointments(owner, now, timedelta(days=30))
        body = services.calendar([services.event_of(a, "example.org") for a in upcoming], now)
    events = events_of(body)
    assert [(e.decoded("dtstart"), e.decoded("dtend")) for e in events] == [
        (BEFORE_DST, BEFORE_DST + timedelta(minutes=50)),
        (AFTER_DST, AFTER_DST + timedelta(minutes=90)),
    ]
    assert b"DTSTART:20260307T190000Z" in body and b"DTSTART:20260309T180000Z" in body


def test_a_replaced_or_revoked_feed_link_is_a_404(app, logged_in, therapist):
    add_appointment(app, add_couple(app, therapist.id), utcnow() + timedelta(days=1))
    anonymous = app.test_client()
    first = feed_path(make_feed(logged_in))
    assert anonymous.get(first).status_code == 200

    second = feed_path(make_feed(logged_in))  # replaced: the first stops
    assert second != first
    assert anonymous.get(first).status_code == 404
    assert anonymous.get(second).status_code == 200

    page = logged_in.get("/calendar").get_data(as_text=True)
    assert "A feed link is working" in page
    assert not FEED_LINK.search(page)  # never shown again
    response = logged_in.post_form("/calendar/feed-link/revoke")
    assert response.status_code == 302 and response.headers["Location"] == "/calendar"
    assert anonymous.get(second).status_code == 404
    assert "You have no feed link" in logged_in.get("/calendar").get_data(as_text=True)

    for wrong in ("/calendar/feed/not-a-token.ics", f"/calendar/feed/{'x' * 200}.ics"):
        assert anonymous.get(wrong).status_code == 404
    fetches = [row for row in audit_rows(app) if row[-1] == "calendars.feed"]
    assert len(fetches) == 2  # the two that answered; a 404 records nothing
    revokes = [row for row in audit_rows(app) if row[-1] == "calendars.revoke_feed"]
    assert revokes == [("revoke", therapist.id, "calendars", None, None, "calendars.revoke_feed")]


def test_a_deactivated_therapists_feed_is_a_404(app, logged_in, therapist):
    path = feed_path(make_feed(logged_in))
    with app.app_context():
        db.session.get(Therapist, therapist.id).active = False
        db.session.commit()
    assert app.test_client().get(path).status_code == 404


def test_the_database_holds_no_feed_token_in_clear(app, logged_in, therapist):
    token = feed_path(make_feed(logged_in)).rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 43  # 256 bits
    stored = repr(snapshot(app))
    assert token not in stored
    assert services.hash_token(token) in stored


def test_the_feed_link_stays_out_of_the_access_logs(app, logged_in, caplog):
    path = feed_path(make_feed(logged_in))
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, "GET %s HTTP/1.1", (path,), None
    )
    RedactPartnerLinks().filter(record)
    assert record.getMessage() == "GET /calendar/feed/[feed-link].ics HTTP/1.1"


def test_making_a_feed_link_needs_the_forms_token(app, logged_in, therapist):
    response = logged_in.post("/calendar/feed-link")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Therapist, therapist.id).calendar_feed_hash is None


# ------------------------------------------------------------------------------ mounted
def host_therapist_id(app, client, email) -> int:
    assert client.get(f"{PREFIX}/").status_code == 200  # provisions the therapist of ours
    with app.app_context():
        return db.session.scalar(select(Therapist.id).where(Therapist.email == email))


def test_mounted_the_feed_and_the_ics_work_under_the_hosts_prefix(host, clinician, other_clinician):
    owner, other = host.test_client(), host.test_client()
    owner.sign_in(clinician)
    other.sign_in(other_clinician)
    owner_id = host_therapist_id(host, owner, clinician.email)
    host_therapist_id(host, other, other_clinician.email)
    couple_id = add_couple(host, owner_id, ("Alex", "Sam"), concerns=CONCERNS)
    appointment_id = add_appointment(host, couple_id, utcnow() + timedelta(days=1))

    ics = f"{PREFIX}/couples/{couple_id}/calendar/appointments/{appointment_id}.ics"
    response = owner.get(ics)
    assert response.status_code == 200 and b"Couple session (A. & S.)" in response.get_data()
    assert other.get(ics).status_code == 404

    link = make_feed(owner, PREFIX)
    assert link.startswith(f"http://localhost{PREFIX}/calendar/feed/")
    calendar_app = host.test_client()  # not signed in to the host either
    response = calendar_app.get(feed_path(link))
    assert response.status_code == 200
    assert [str(e["summary"]) for e in events_of(response.get_data())] == [
        "Couple session (A. & S.)"
    ]
    assert b"Alex" not in response.get_data() and b"ZQXCONCERN" not in response.get_data()
    assert owner.post_form(f"{PREFIX}/calendar/feed-link/revoke").status_code == 302
    assert calendar_app.get(feed_path(link)).status_code == 404
    endpoints = [row[-1] for row in audit_rows(host)]
    assert "couple.calendar.appointment" in endpoints and "calendars.feed" in endpoints
