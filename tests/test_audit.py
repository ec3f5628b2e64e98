"""The audit trail: what is recorded, that it holds no clinical text, and that tampering shows."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from conftest import login
from counselor_app.extensions import db
from counselor_app.models import AuditEvent

MARKER = "ZQXAUDITMARKER"


def events(app):
    with app.app_context():
        return [
            (e.action, e.object_type, e.object_id, e.couple_id, e.therapist_id)
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def verify(app):
    return app.test_cli_runner().invoke(args=["counselor", "audit", "verify"])


def test_sign_ins_views_changes_and_exports_are_recorded(app, client, therapist, make_couple):
    couple_id = make_couple(therapist, concerns=MARKER)
    login(client, therapist, password="not the right one at all")
    login(client, therapist)
    client.get(f"/couples/{couple_id}")
    client.post_form(f"/couples/{couple_id}/close")
    client.get(f"/couples/{couple_id}/intake/export.json")
    client.get(f"/couples/{couple_id}/nothing-here")  # a 404 records nothing
    client.post_form("/logout")
    recorded = events(app)
    actions = [row[0] for row in recorded]
    assert actions[:2] == ["login_failure", "login_success"]
    assert ("view", "couple", couple_id, couple_id, therapist.id) in recorded
    assert ("update", "couple", couple_id, couple_id, therapist.id) in recorded
    assert ("export", "couple", couple_id, couple_id, therapist.id) in recorded
    assert actions[-1] == "logout"
    assert verify(app).exit_code == 0


def test_the_trail_holds_no_clinical_text(app, client, therapist, make_couple):
    couple_id = make_couple(therapist, concerns=MARKER)
    login(client, therapist)
    client.get(f"/couples/{couple_id}")
    with app.app_context():
        rows = db.session.execute(select(AuditEvent.__table__)).all()
    assert rows and MARKER not in repr(rows) and "Alex" not in repr(rows)


def test_an_edited_row_is_detected(app, client, therapist):
    login(client, therapist)
    client.get("/")
    client.get("/couples/new")
    assert verify(app).exit_code == 0
    with app.app_context():
        first_view = db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "view"))
        db.session.execute(
            update(AuditEvent).where(AuditEvent.id == first_view).values(action="login_success")
        )
        db.session.commit()
    result = verify(app)
    assert result.exit_code == 1
    assert f"broken at event {first_view}: the row was changed" in result.output


def test_a_deleted_row_is_detected(app, client, therapist):
    login(client, therapist)
    client.get("/")
    client.get("/couples/new")
    with app.app_context():
        ids = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == ids[1]))
        db.session.commit()
    result = verify(app)
    assert result.exit_code == 1
    assert f"broken at event {ids[2]}: a row before it was removed" in result.output


def test_admin_lists_filters_and_verifies(app, client, make_therapist, make_couple):
    admin = make_therapist("Owner", admin=True)
    colleague = make_therapist("Colleague")
    couple_id = make_couple(colleague)
    other = app.test_client()
    login(other, colleague)
    other.get(f"/couples/{couple_id}")
    login(client, admin)
    page = client.get(f"/admin/audit?therapist={colleague.id}&action=view").get_data(as_text=True)
    assert "couple.detail" in page and "Colleague" in page
    assert "login success" not in page.split("<tbody>")[1]
    page = client.get(f"/admin/audit?couple={couple_id}&verify=1").get_data(as_text=True)
    assert "Chain intact" in page
    assert client.get("/admin/audit?since=22-11-2026").status_code == 200


def test_non_admins_cannot_read_the_trail(logged_in):
    assert logged_in.get("/admin/audit").status_code == 403
