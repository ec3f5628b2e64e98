"""The audit trail: what is recorded, that it holds no clinical text, that a change and its row
are committed together, and that tampering shows (keyed chains, one per therapist, and an
anchor kept outside the database)."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.sql import column as sa_column
from sqlalchemy.sql import table as sa_table

from conftest import AUDIT_KEY, Client, base_config, login
from counselor_app import create_app, operations
from counselor_app.audit import keys
from counselor_app.audit import services as audit
from counselor_app.extensions import db
from counselor_app.models import AuditEvent, Couple, CoupleStatus
from counselor_app.models.audit import PRACTICE_CHAIN
from counselor_app.models.base import as_utc
from counselor_app.schema import downgrade, upgrade
from host_support import (  # noqa: F401
    COUPLE_FORM,
    PREFIX,
    clinician,
    host,
    host_client,
    host_template,
)

MARKER = "ZQXAUDITMARKER"


def events(app):
    with app.app_context():
        return [
            (e.action, e.object_type, e.object_id, e.couple_id, e.therapist_id)
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["counselor", "audit", *args])


def plain_sha256(prev_hash, fields):
    """The unkeyed hash the trail used before: anyone with the database can compute it."""
    chained = {**fields, "at": as_utc(fields["at"]).isoformat()}
    body = prev_hash + json.dumps(chained, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def rewrite_chain_from(app, event_id, digest):
    """What someone with the database alone would do after editing ``event_id``: recompute the
    hashes of its chain from there on with ``digest``."""
    with app.app_context():
        chain = db.session.get(AuditEvent, event_id).chain
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.id)
        ).all()
        previous = audit.GENESIS
        for row in rows:
            if row.id >= event_id:
                row.prev_hash = previous
                row.hash = digest(previous, {n: getattr(row, n) for n in audit.CHAINED_FIELDS})
            previous = row.hash
        db.session.commit()


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
    assert actions.count("update") == 1
    assert ("update", "couple", couple_id, couple_id, therapist.id) in recorded
    assert ("export", "couple", couple_id, couple_id, therapist.id) in recorded
    assert actions[-1] == "logout"
    with app.app_context():
        # A failed sign-in names no therapist: it is the practice's.
        assert set(db.session.scalars(select(AuditEvent.chain))) == {PRACTICE_CHAIN, therapist.id}
    assert cli(app, "verify").exit_code == 0


def test_the_trail_holds_no_clinical_text(app, client, therapist, make_couple):
    couple_id = make_couple(therapist, concerns=MARKER)
    login(client, therapist)
    client.get(f"/couples/{couple_id}")
    with app.app_context():
        rows = db.session.execute(select(AuditEvent.__table__)).all()
    assert rows and MARKER not in repr(rows) and "Alex" not in repr(rows)


def test_an_edited_row_recomputed_without_the_key_is_reported(app, client, make_therapist):
    dana, eli = make_therapist("Dana"), make_therapist("Eli")
    other = app.test_client()
    for browser, who in ((client, dana), (other, eli)):
        login(browser, who)
        browser.get("/")
        browser.get("/couples/new")
    result = cli(app, "verify")
    assert result.exit_code == 0
    assert "intact: 6 events checked in 2 chains" in result.output
    with app.app_context():
        edited = db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "view", AuditEvent.chain == dana.id)
        )
        db.session.execute(
            update(AuditEvent).where(AuditEvent.id == edited).values(action="login_success")
        )
        db.session.commit()
    wrong_key = secrets.token_bytes(32)
    for digest in (plain_sha256, lambda prev, fields: audit.signature(wrong_key, prev, fields)):
        rewrite_chain_from(app, edited, digest)
        result = cli(app, "verify")
        assert result.exit_code == 1
        assert (
            f"therapist {dana.id}'s chain at event {edited}: the row was changed" in result.output
        )
        assert f"therapist {eli.id}'s chain" not in result.output  # the other chain is intact


def test_a_deleted_row_is_reported_and_deleted_newest_rows_against_the_anchor(
    app, client, therapist, tmp_path
):
    login(client, therapist)
    for url in ("/", "/couples/new", "/", "/couples/new"):
        client.get(url)
    printed = cli(app, "anchor")
    assert json.loads(printed.output)["chains"][0]["chain"] == therapist.id
    anchor = tmp_path / "anchor.json"
    assert cli(app, "anchor", "--output", str(anchor)).exit_code == 0
    client.get("/")  # rows after the anchor are fine
    result = cli(app, "verify", "--anchor", str(anchor))
    assert result.exit_code == 0 and "1 chain ends match the anchor" in result.output
    with app.app_context():
        ids = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        db.session.execute(delete(AuditEvent).where(AuditEvent.id >= ids[-3]))
        db.session.commit()
    assert cli(app, "verify").exit_code == 0  # a shorter chain still fits...
    result = cli(app, "verify", "--anchor", str(anchor))
    assert result.exit_code == 1  # ...but not the anchor
    assert f"now ends at event {ids[-4]}, before event {ids[-2]} where the anchor" in result.output
    with app.app_context():
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == ids[1]))
        db.session.commit()
    result = cli(app, "verify")
    assert f"at event {ids[2]}: a row before it was removed" in result.output
    anchor.write_text("{}")
    assert "not an audit anchor" in cli(app, "verify", "--anchor", str(anchor)).output


@pytest.fixture
def own_keys_app(app, tmp_path):
    """The test's database, served by an app whose instance folder (its audit_keys) is the
    test's own: a test that rewrites the key file rewrites no one else's."""
    own = app_on_key_file(app, tmp_path / "instance", [AUDIT_KEY])
    yield own
    with own.app_context():
        db.session.remove()
        db.engine.dispose()


def app_on_key_file(app, instance, file_keys):
    """An app on ``app``'s database whose audit keys come from ``instance``'s audit_keys (as
    in production), holding ``file_keys`` (none: no file)."""
    settings = base_config(app.config["SQLALCHEMY_DATABASE_URI"], instance)
    del settings["COUNSELOR_AUDIT_KEYS"]
    settings["COUNSELOR_UPGRADE_DRAIN_SECONDS"] = 0  # rotate-key's wait for the workers
    if file_keys:
        instance.mkdir(parents=True, exist_ok=True)
        (instance / keys.AUDIT_KEYS_FILE).write_text("".join(f"{k}\n" for k in file_keys))
    own = create_app(settings, instance_path=str(instance))
    own.test_client_class = Client
    return own


def test_no_new_audit_key_beside_a_trail_signed_under_another(app, logged_in, tmp_path):
    """A lost key file (or a server started on another instance folder) is refused at start,
    rather than a new key made and every later row reported as a break."""
    logged_in.get("/")  # a row on the trail, signed under the suite's key
    with pytest.raises(keys.AuditKeysError, match="put back the audit_keys file"):
        app_on_key_file(app, tmp_path / "lost", [])
    assert not (tmp_path / "lost" / keys.AUDIT_KEYS_FILE).exists()
    with pytest.raises(keys.AuditKeysError, match="did not sign it"):
        app_on_key_file(app, tmp_path / "other", [keys.new_key()])


def test_a_rotated_key_still_verifies_old_rows_and_a_missing_key_is_named(own_keys_app, therapist):
    own = own_keys_app
    client = own.test_client()
    login(client, therapist)
    client.get("/")
    old_id = keys.in_use(own).current[0]
    # Another worker, started before the rotation on the same instance folder.
    worker = app_on_key_file(own, Path(own.instance_path), [])
    result = cli(own, "rotate-key")
    assert result.exit_code == 0, result.output
    with own.app_context():
        assert operations.raised_flag() is None  # up during the rotation only
    key_file = keys.keys_path(own).read_text().split()
    assert len(key_file) == 2 and keys.key_id_of(bytes.fromhex(key_file[1])) == old_id
    new_id = keys.in_use(own).current[0]
    assert keys.in_use(worker).current[0] == new_id  # read again at its next audited write
    with worker.app_context():
        db.engine.dispose()
    client.get("/couples/new")
    with own.app_context():
        signed = db.session.execute(select(AuditEvent.action, AuditEvent.key_id)).all()
    assert ("login_success", old_id) in signed and ("audit_key_rotate", new_id) in signed
    assert ("view", new_id) in signed
    assert cli(own, "verify").exit_code == 0
    # A row under the old key after rows under the new one (a leaked old key) is a break.
    keys.use_keys(own, list(reversed(key_file)))
    client.get("/")
    assert "signed with an older audit key" in cli(own, "verify").output
    keys.use_keys(own, key_file[:1])
    assert f"signed with audit key {old_id}, which is not among" in cli(own, "verify").output


def closed(app, couple_id):
    with app.app_context():
        return db.session.get(Couple, couple_id).status == CoupleStatus.CLOSED


def status_of(send):
    """The response's status; 500 for an error the test client let through."""
    try:
        return send().status_code
    except RuntimeError:
        return 500


def test_a_change_and_its_row_are_committed_together(
    app, client, therapist, make_couple, monkeypatch
):
    couple_id = make_couple(therapist)
    login(client, therapist)
    close = f"/couples/{couple_id}/close"

    def unwritable(*args, **kwargs):
        raise RuntimeError("the audit row cannot be written")

    # The audit row cannot be written: the change is not kept either.
    token = {"csrf_token": client.csrf_token()}  # a page view: recorded, before the patch
    with monkeypatch.context() as patch:
        patch.setattr(audit, "record", unwritable)
        assert status_of(lambda: client.post(close, data=token)) == 500
    assert not closed(app, couple_id)

    def refuse(conn, cursor, statement, *args):
        if statement.startswith("UPDATE counselor_couple"):
            raise RuntimeError("the change cannot be written")

    # The change fails as it is committed: no row claims it was made.
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        assert status_of(lambda: client.post_form(close)) == 500
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert not closed(app, couple_id)
    # A stale edit (409) leaves none either; the change that is made has exactly one.
    stale = {**COUPLE_FORM, "version": "99"}
    assert client.post_form(f"/couples/{couple_id}/edit", stale).status_code == 409
    assert "update" not in [row[0] for row in events(app)]
    assert client.post_form(close).status_code == 302
    assert closed(app, couple_id)
    assert [row[0] for row in events(app)].count("update") == 1
    assert cli(app, "verify").exit_code == 0


def test_mounted_a_change_is_recorded_once_on_the_therapists_chain(host, host_client):
    response = host_client.post_form(f"{PREFIX}/couples/new", COUPLE_FORM)
    assert response.status_code == 302
    recorded = events(host)
    assert host_client.get("/", follow_redirects=True).status_code == 200
    assert events(host) == recorded  # the host's own page: nothing of ours is recorded
    with host.app_context():
        creates = db.session.execute(
            select(AuditEvent.therapist_id, AuditEvent.chain).where(AuditEvent.action == "create")
        ).all()
    assert len(creates) == 1 and creates[0].chain == creates[0].therapist_id is not None
    assert cli(host, "verify").exit_code == 0


def test_one_therapists_chain_lock_never_holds_up_another(app, backend, make_therapist):
    if backend != "postgresql":
        pytest.skip("SQLite serialises every write: there is no lock per chain to show")
    dana, eli = make_therapist("Dana"), make_therapist("Eli")
    client = app.test_client()
    login(client, eli)
    with app.app_context():
        engine = db.engine

    def give_up_soon(dbapi_connection, record):
        # Should Eli's request wait on Dana's lock, it fails rather than hangs the suite.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '500ms'")

    engine.dispose()
    event.listen(engine, "connect", give_up_soon)
    answered = {}
    try:
        with app.app_context():
            # Dana's audited write, not committed yet: it holds whatever her chain's writers wait on.
            audit.record("view", therapist_id=dana.id)
            # Eli's request from another thread: an app context (and connection) of its own.
            eli_asks = threading.Thread(target=lambda: answered.update(page=client.get("/")))
            eli_asks.start()
            eli_asks.join(timeout=30)
            db.session.rollback()
    finally:
        event.remove(engine, "connect", give_up_soon)
        engine.dispose()
    assert answered["page"].status_code == 200
    assert ("view", "couples", None, None, eli.id) in events(app)


def test_on_sqlite_a_writer_that_got_in_between_never_forks_the_chain(app, backend, therapist):
    if backend != "sqlite":
        pytest.skip("PostgreSQL: the chain's lock keeps the other writer out (test above)")
    interleaved = []

    def other_process_first(conn, cursor, statement, *args):
        # Between our reading the chain's last row and our INSERT, another writer appends.
        if statement.startswith("INSERT INTO counselor_audit_event") and not interleaved:
            interleaved.append(statement)
            with app.app_context():  # a session (and connection) of its own
                audit.record("view", therapist_id=therapist.id)
                db.session.commit()

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", other_process_first)
        try:
            audit.record("update", therapist_id=therapist.id)
            db.session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", other_process_first)
        assert audit.verify().ok and audit.verify().checked == 2 and interleaved


def test_the_upgrade_rechains_under_the_key_and_the_downgrade_goes_back(empty_database, tmp_path):
    app = create_app(base_config(empty_database(), tmp_path), instance_path=str(tmp_path))
    table = AuditEvent.__table__
    # The table as it was before this revision (the model's would add its new columns).
    names = ("id", *audit.CHAINED_FIELDS[:-2], "prev_hash", "hash")
    before = sa_table(table.name, *(sa_column(name, table.c[name].type) for name in names))
    legacy = list(before.c)
    with app.app_context():
        upgrade("0012")
        previous = audit.GENESIS
        for number, therapist in enumerate((1, None, 2, 1, 7), start=1):
            fields = {
                "at": datetime(2026, 11, number, 9, tzinfo=UTC),
                "therapist_id": therapist,
                "action": "view",
                "object_type": "dashboard",
                "object_id": None,
                "couple_id": None,
                "endpoint": "couples.index",
                "address": "127.0.0.1",
            }
            digest = plain_sha256(previous, fields)
            if number == 4:
                fields["action"] = "update"  # edited after it was hashed: already broken
            row = {**fields, "prev_hash": previous, "hash": digest}  # ids 1 to 5, in turn
            db.session.execute(insert(before).values(row))
            previous = digest
        db.session.commit()
        upgrade()
        result = audit.verify()
        assert result.ok and result.chains == 4 and result.checked == 6
        rows = db.session.execute(select(table.c.id, table.c.chain, table.c.object_id)).all()
        assert [(row.id, row.chain) for row in rows] == [
            (1, 1),
            (2, PRACTICE_CHAIN),
            (3, 2),
            (4, 1),
            (5, 7),
            (6, PRACTICE_CHAIN),
        ]
        assert db.session.get(AuditEvent, 6).action == "audit_rechain"
        assert rows[-1].object_id == 4  # the first event that did not fit the old chain
        db.session.rollback()  # PostgreSQL: no read of ours holds up the downgrade's ALTER
        downgrade("0012")
        previous = audit.GENESIS
        for row in db.session.execute(select(*legacy).order_by(before.c.id)):
            fields = {name: getattr(row, name) for name in audit.CHAINED_FIELDS[:-2]}
            assert row.prev_hash == previous and row.hash == plain_sha256(previous, fields)
            previous = row.hash
        db.session.remove()
        db.engine.dispose()
