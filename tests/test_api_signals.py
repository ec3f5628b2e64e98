"""What a host calls (counselor_app.api) and what it hears (counselor_app.signals), mounted in
the reference host (examples/host_app) on its database and sign-in."""

# The host fixtures are imported by name, so pytest finds them; each test takes them as arguments.

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from blinker import ANY
from flask import Flask
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from counselor_app import api, signals
from counselor_app.couples import services as couple_services
from counselor_app.models import Appointment as CounselorAppointment
from counselor_app.models import (
    Couple,
    CoupleStatus,
    DocumentKind,
    Flag,
    FlagStatus,
    IssuedDocument,
    NoteStatus,
    Partner,
    Response,
    ResponseStatus,
    SessionNote,
    Therapist,
)
from examples.host_app.host_app import db as host_db
from examples.host_app.host_app.identity import ClinicianIdentity
from examples.host_app.host_app.models import Client
from host_support import (  # noqa: F401  (fixtures)
    PREFIX,
    clinician,
    host,
    host_client,
    host_template,
    other_clinician,
    receptionist,
)
from intake_support import seed_intake
from plan_support import plan_form
from vignettes import VIGNETTES

MONEY = next(v for v in VIGNETTES if v.name == "money_fights")
# Clinical text that must never travel with a signal.
CONCERNS = "ZQXCONCERN Riley feels crowded; Jordan feels shut out."
NOTE_TEXT = "ZQXNOTETEXT talked about the budget"
FLAG_NOTE = "ZQXFLAGNOTE money came up twice"
NAMES = ("Jordan", "Riley")
SECRETS = (*NAMES, "ZQXCONCERN", "ZQXNOTETEXT", "ZQXFLAGNOTE", "crowded", "budget")
CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def identity_of(staff: Any, *, admin: bool = False) -> ClinicianIdentity:
    """What the host's identity callable says about this member of staff."""
    return ClinicianIdentity(
        external_id=f"host-user-{staff.id}", name=staff.name, email=staff.email, is_admin=admin
    )


def details(
    reference: str | None, partners: tuple[str | None, str | None], names=NAMES
) -> api.CoupleDetails:
    return api.CoupleDetails(
        partner_a=api.PartnerDetails(names[0], "he/him", external_id=partners[0]),
        partner_b=api.PartnerDetails(names[1], "she/her", external_id=partners[1]),
        relationship_stage=api.RelationshipStage.ENGAGED,
        relationship_length_months=42,
        presenting_concerns=CONCERNS,
        external_id=reference,
    )


@contextmanager
def fresh_session(app: Flask) -> Iterator[Session]:
    """A new connection of its own: it sees only what has been committed."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def committed_count(app: Flask, query) -> int:
    with fresh_session(app) as session:
        return session.scalar(select(func.count()).select_from(query.subquery()))


# ------------------------------------------------------------------------------------- api
def test_therapist_for_provisions_once_and_keeps_in_step(host, clinician):
    ada = identity_of(clinician, admin=True)
    with host.app_context():
        therapist = api.therapist_for(ada)
        host_db.session.commit()
        first_id = therapist.id
        assert (therapist.external_id, therapist.name, therapist.email) == (
            ada.external_id,
            "Ada Rivera",
            "ada@example.org",
        )
        assert therapist.is_admin
    renamed = ClinicianIdentity(ada.external_id, "Ada Rivera-Lund", ada.email, False)
    with host.app_context():
        again = api.therapist_for(renamed)
        host_db.session.commit()
        assert again.id == first_id and again.name == "Ada Rivera-Lund" and not again.is_admin
    query = select(Therapist).where(Therapist.external_id == ada.external_id)
    assert committed_count(host, query) == 1


def test_find_or_create_couple_creates_once_then_finds(host, clinician):
    ada = identity_of(clinician)
    with host.app_context():
        couple, created = api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
        host_db.session.commit()
        couple_id = couple.id
        assert created
        assert couple.external_id == "client-42"
        assert [(p.label, p.display_name, p.external_id) for p in couple.partners] == [
            ("A", "Jordan", "p-1"),
            ("B", "Riley", "p-2"),
        ]
    with host.app_context():
        # Other details the second time: the couple is found by its reference, not remade.
        again, created = api.find_or_create_couple(
            ada, details("client-42", ("p-7", "p-8"), names=("Other", "Names"))
        )
        assert (again.id, created) == (couple_id, False)
        assert [p.display_name for p in again.partners] == list(NAMES)
        assert api.find_couple(ada, "client-42").id == couple_id
        assert api.find_couple(ada, "client-43") is None
        host_db.session.commit()
    assert committed_count(host, select(Couple)) == 1


def test_the_host_commits_its_row_and_the_couple_in_one_transaction(host, clinician):
    ada = identity_of(clinician)
    with host.app_context():
        commits: list[object] = []

        def count_commit(connection: object) -> None:
            commits.append(connection)

        event.listen(host_db.engine, "commit", count_commit)
        try:
            host_db.session.add(Client(name="Jordan Host-Record", email="jordan@example.org"))
            _, created = api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
            assert created
            # Flushed, not committed: another connection sees neither row yet.
            assert committed_count(host, select(Couple)) == 0
            assert committed_count(host, select(Client)) == 0
            host_db.session.commit()
        finally:
            event.remove(host_db.engine, "commit", count_commit)
        assert len(commits) == 1, "the api must leave the commit to the host"
    assert committed_count(host, select(Client).where(Client.name == "Jordan Host-Record")) == 1
    assert committed_count(host, select(Couple).where(Couple.external_id == "client-42")) == 1


def test_a_host_rollback_takes_the_couple_with_it(host, clinician):
    ada = identity_of(clinician)
    with host.app_context():
        host_db.session.add(Client(name="Jordan Host-Record", email="jordan@example.org"))
        api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
        host_db.session.rollback()
    assert committed_count(host, select(Client)) == 0
    assert committed_count(host, select(Couple)) == 0
    assert committed_count(host, select(Partner)) == 0
    with host.app_context():
        assert api.find_couple(ada, "client-42") is None


def test_another_clinician_never_finds_the_couple(host, clinician, other_clinician):
    ada, ben = identity_of(clinician), identity_of(other_clinician)
    with host.app_context():
        ours, _ = api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
        host_db.session.commit()
        ours_id = ours.id
    with host.app_context():
        assert api.find_couple(ben, "client-42") is None
        # References are unique per therapist: Ben's own client-42 is a couple of his own.
        theirs, created = api.find_or_create_couple(
            ben, details("client-42", ("p-1", "p-2"), names=("Priya", "Tom"))
        )
        host_db.session.commit()
        assert created and theirs.id != ours_id
        assert api.find_couple(ada, "client-42").id == ours_id
        assert api.find_couple(ben, "client-42").id == theirs.id


@pytest.mark.parametrize(
    ("reference", "partners", "message"),
    [
        ("client-42", (None, None), "Another couple already has this host reference."),
        ("client-43", ("p-1", None), "Another partner already has this host reference."),
        ("client-43", (None, "p-2"), "Another partner already has this host reference."),
        ("client-43", ("p-9", "p-9"), "The two partners cannot share one host reference."),
        (None, ("p-8", "p-9"), "A host reference (external_id) is needed"),
    ],
    ids=[
        "couple-ref-taken",
        "partner-a-ref-reused",
        "partner-b-ref-reused",
        "partners-same",
        "no-ref",
    ],
)
def test_a_taken_or_missing_reference_is_refused(host, clinician, reference, partners, message):
    ada = identity_of(clinician)
    with host.app_context():
        api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
        host_db.session.commit()
    with host.app_context():
        therapist = api.therapist_for(ada)
        with pytest.raises(api.CoupleError, match=re.escape(message)):
            if reference == "client-42":
                # find_or_create would find it: making a second one directly is refused.
                couple_services.create_couple(therapist, details(reference, partners))
            else:
                api.find_or_create_couple(ada, details(reference, partners))
        host_db.session.commit()
    assert committed_count(host, select(Couple)) == 1
    assert committed_count(host, select(Partner)) == 2


def test_couple_url_links_into_our_pages(host, clinician, other_clinician, host_client):
    ada = identity_of(clinician, admin=True)
    with host.app_context():
        couple, _ = api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
        host_db.session.commit()
        couple_id = couple.id
    with host.test_request_context():
        url = api.couple_url(couple_id, "assessment")
        assert url == f"{PREFIX}/couples/{couple_id}/assessment"
        assert api.couple_url(couple_id) == f"{PREFIX}/couples/{couple_id}"
        intake = api.couple_url(couple_id, "intake", label="a")
        with pytest.raises(ValueError, match="No page 'billing'"):
            api.couple_url(couple_id, "billing")
    page = host_client.get(url)
    assert page.status_code == 200 and "Jordan" in page.get_data(as_text=True)
    assert host_client.get(intake).status_code in (200, 302)
    ben = host.test_client()
    ben.sign_in(other_clinician)
    assert ben.get(url).status_code == 404


def test_couple_url_takes_the_couple_object(host, clinician):
    ada = identity_of(clinician)
    with host.app_context():
        couple, _ = api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
        with host.test_request_context():
            assert api.couple_url(couple, "plans") == f"{PREFIX}/couples/{couple.id}/plans"
        host_db.session.rollback()


def dashboard_after_search(client, text: str) -> str:
    response = client.post_form(f"{PREFIX}/search", {"q": text, "status": "all"})
    assert response.status_code == 302
    assert text.strip() not in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_dashboard_search_finds_couples_by_host_reference(
    host, clinician, other_clinician, host_client
):
    ada, ben = identity_of(clinician, admin=True), identity_of(other_clinician)
    with host.app_context():
        api.find_or_create_couple(ada, details("client-42", ("p-1", "p-2")))
        api.find_or_create_couple(ada, details("client-77", ("p-3", "p-4"), ("Morgan", "Casey")))
        api.find_or_create_couple(ben, details("client-42", ("p-1", "p-2"), ("Priya", "Tom")))
        api.find_or_create_couple(ben, details("client-99", ("p-5", "p-6"), ("Sasha", "Lee")))
        host_db.session.commit()
    for text in ("client-42", " client-42 ", "p-1", "p-2"):
        page = dashboard_after_search(host_client, text)
        assert "Jordan &amp; Riley" in page, text
        assert "Morgan" not in page and "Priya" not in page and "Sasha" not in page, text
    page = dashboard_after_search(host_client, "client-77")
    assert "Morgan &amp; Casey" in page and "Jordan" not in page
    # Another clinician's references find nothing of theirs, and a reference is matched whole.
    for text in ("client-99", "p-5", "client-4"):
        page = dashboard_after_search(host_client, text)
        assert "No couples match" in page, text
        assert "Sasha" not in page and "Priya" not in page and "Jordan" not in page, text


# ------------------------------------------------------------------------------------ signals
ALL_SIGNALS = {
    "couple_created": signals.couple_created,
    "couple_closed": signals.couple_closed,
    "intake_completed": signals.intake_completed,
    "flag_confirmed": signals.flag_confirmed,
    "document_issued": signals.document_issued,
    "appointment_recorded": signals.appointment_recorded,
    "note_signed": signals.note_signed,
}


def committed_state(app: Flask, name: str, ids: dict[str, Any]) -> Any:
    """What a fresh connection sees of the event's row, from inside the receiver."""
    with fresh_session(app) as session:
        if name in ("couple_created", "couple_closed"):
            return session.scalar(select(Couple.status).where(Couple.id == ids["couple_id"]))
        if name == "intake_completed":
            rows = session.scalars(
                select(Response.status).where(Response.partner_id == ids["partner_id"])
            )
            return sorted(status.value for status in rows)
        if name == "flag_confirmed":
            return session.scalar(select(Flag.status).where(Flag.id == ids["flag_id"]))
        if name == "document_issued":
            kind = session.scalar(
                select(IssuedDocument.kind).where(IssuedDocument.id == ids["document_id"])
            )
            return kind.value if kind else None
        if name == "appointment_recorded":
            return session.scalar(
                select(CounselorAppointment.id).where(
                    CounselorAppointment.id == ids["appointment_id"]
                )
            )
        if name == "note_signed":
            return session.scalar(
                select(SessionNote.status).where(
                    SessionNote.appointment_id == ids["appointment_id"]
                )
            )
    raise AssertionError(name)


@dataclass
class Heard:
    name: str
    sender: Any
    ids: dict[str, Any]
    committed: Any


class Recorder:
    """Receivers on every signal for one app; take() hands over what was heard since."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.heard: list[Heard] = []
        self.from_anyone: list[tuple[str, Any]] = []

    def receiver(self, name: str):
        def receive(sender: Any, **ids: Any) -> None:
            self.heard.append(Heard(name, sender, dict(ids), committed_state(self.app, name, ids)))

        return receive

    def any_receiver(self, name: str):
        def receive(sender: Any, **ids: Any) -> None:
            self.from_anyone.append((name, sender))

        return receive

    def take(self) -> list[Heard]:
        taken, self.heard = self.heard, []
        return taken

    def nothing(self) -> None:
        assert self.take() == []

    def one(self, name: str, **expected: Any) -> Any:
        """Exactly one event since the last take: this one, with these ids; its committed row."""
        taken = self.take()
        assert [(h.name, h.ids) for h in taken] == [(name, expected)]
        [heard] = taken
        assert heard.sender is self.app
        for value in heard.ids.values():
            assert (type(value) is int) or (type(value) is str and CODE.fullmatch(value)), value
        text = repr(heard.ids)
        for secret in SECRETS:
            assert secret not in text
        return heard.committed


@pytest.fixture
def heard(host) -> Iterator[Recorder]:
    recorder = Recorder(host)
    with ExitStack() as stack:
        for name, signal in ALL_SIGNALS.items():
            stack.enter_context(signal.connected_to(recorder.receiver(name), sender=host))
            stack.enter_context(signal.connected_to(recorder.any_receiver(name), sender=ANY))
        yield recorder
    # Every signal heard during the test, by any receiver, came from this app.
    assert all(sender is host for _, sender in recorder.from_anyone)


def couple_form(**overrides: str) -> dict[str, str]:
    return {
        "partner_a-display_name": NAMES[0],
        "partner_a-pronouns": "he/him",
        "partner_a-email": "jordan@example.org",
        "partner_b-display_name": NAMES[1],
        "partner_b-pronouns": "she/her",
        "partner_b-email": "",
        "relationship_stage": "engaged",
        "length_years": "3",
        "length_months": "6",
        "presenting_concerns": CONCERNS,
        **overrides,
    }


def therapist_id_of(app: Flask, staff: Any) -> int:
    with fresh_session(app) as session:
        return session.scalar(
            select(Therapist.id).where(Therapist.external_id == f"host-user-{staff.id}")
        )


def partner_ids(app: Flask, couple_id: int) -> dict[str, int]:
    with fresh_session(app) as session:
        rows = session.execute(
            select(Partner.label, Partner.id).where(Partner.couple_id == couple_id)
        )
        return {label: partner_id for label, partner_id in rows}


def flag_of(app: Flask, couple_id: int, key: str) -> tuple[int, int]:
    with fresh_session(app) as session:
        row = session.execute(
            select(Flag.id, Flag.version).where(
                Flag.couple_id == couple_id, Flag.challenge_key == key
            )
        ).one()
        return row.id, row.version


def note_version(app: Flask, appointment_id: int) -> int:
    with fresh_session(app) as session:
        return session.scalar(
            select(SessionNote.version).where(SessionNote.appointment_id == appointment_id)
        )


def location_id(response: Any) -> int:
    """The id the redirect names: the anchor's (#document-7) if any, else the path's last."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    location = response.headers["Location"]
    return int(re.search(r"(\d+)$", location).group(1))


def test_signals_follow_the_journey_after_each_commit(host, clinician, host_client, heard):
    couple_base = f"{PREFIX}/couples"

    # Couple created: a refused form sends nothing; our "New couple" form sends one event.
    refused = host_client.post_form(
        f"{couple_base}/new", couple_form(**{"partner_a-display_name": ""})
    )
    assert refused.status_code == 422
    heard.nothing()
    couple_id = location_id(host_client.post_form(f"{couple_base}/new", couple_form()))
    base = f"{couple_base}/{couple_id}"
    therapist_id = therapist_id_of(host, clinician)
    status = heard.one("couple_created", couple_id=couple_id, therapist_id=therapist_id)
    assert status == CoupleStatus.ACTIVE

    # Intake completed: both partners' answers are in (as drafts); each review completes one.
    partners = partner_ids(host, couple_id)
    seed_intake(host, couple_id, "A", intake=dict(MONEY.a), complete=False)
    missing = host_client.post_form(f"{base}/intake/b/review")
    assert missing.status_code != 302  # B has answered nothing yet
    heard.nothing()
    assert location_id(host_client.post_form(f"{base}/intake/a/review")) == couple_id
    statuses = heard.one("intake_completed", couple_id=couple_id, partner_id=partners["A"])
    assert statuses == [ResponseStatus.COMPLETE.value] * 3
    seed_intake(host, couple_id, "B", intake=dict(MONEY.b), complete=False)
    assert location_id(host_client.post_form(f"{base}/intake/b/review")) == couple_id
    statuses = heard.one("intake_completed", couple_id=couple_id, partner_id=partners["B"])
    assert statuses == [ResponseStatus.COMPLETE.value] * 3

    # Flag confirmed: a stale form sends nothing; a dismissal is no confirmation.
    flag_id, version = flag_of(host, couple_id, "financial_tension")
    prefix = f"flag{flag_id}-confirm"
    stale = host_client.post_form(
        f"{base}/flags/{flag_id}/confirm",
        {f"{prefix}-note": FLAG_NOTE, f"{prefix}-version": str(version + 5)},
    )
    assert stale.status_code == 409
    heard.nothing()
    confirmed = host_client.post_form(
        f"{base}/flags/{flag_id}/confirm",
        {f"{prefix}-note": FLAG_NOTE, f"{prefix}-version": str(version)},
    )
    assert confirmed.status_code == 302
    status = heard.one("flag_confirmed", couple_id=couple_id, flag_id=flag_id)
    assert status == FlagStatus.CONFIRMED

    # Documents issued: the plan and the handout; re-issuing an unchanged plan is no new one.
    page = host_client.get(f"{base}/plans/new").get_data(as_text=True)
    plan_id = location_id(host_client.post_form(f"{base}/plans/new", plan_form(page)))
    heard.nothing()  # a plan is saved, nothing issued yet
    for kind, code in (("plan", "session_plan"), ("handout", "handout")):
        document_id = location_id(host_client.post_form(f"{base}/plans/{plan_id}/issue/{kind}"))
        stored = heard.one(
            "document_issued", couple_id=couple_id, document_id=document_id, kind=code
        )
        assert stored == code
    again = host_client.post_form(f"{base}/plans/{plan_id}/issue/plan")
    assert again.status_code == 302 and "already up to date" in host_client.get(
        again.headers["Location"]
    ).get_data(as_text=True)
    heard.nothing()
    assert host_client.post_form(f"{base}/plans/{plan_id}/issue/letter").status_code == 404
    assert host_client.post(f"{base}/plans/{plan_id}/issue/plan").status_code == 400  # no token
    heard.nothing()

    # Appointment recorded: a refused form sends nothing.
    appointment = {
        "starts_at": "2026-12-01T18:00",
        "duration_minutes": "50",
        "status": "completed",
        "plan_id": "0",
    }
    assert host_client.post_form(f"{base}/appointments", appointment).status_code == 422
    heard.nothing()
    appointment_id = location_id(
        host_client.post_form(f"{base}/appointments", {**appointment, "attendance": "both"})
    )
    stored = heard.one("appointment_recorded", couple_id=couple_id, appointment_id=appointment_id)
    assert stored == appointment_id

    # Progress report issued (the therapist's report, and one partner's summary).
    for kind, code in (("report", "progress_report"), ("summary-a", "progress_summary")):
        document_id = location_id(host_client.post_form(f"{base}/progress/issue/{kind}"))
        stored = heard.one(
            "document_issued", couple_id=couple_id, document_id=document_id, kind=code
        )
        assert stored == code

    # Note signed: an empty signature and a draft send nothing; signing twice is refused.
    note_url = f"{base}/appointments/{appointment_id}/note"

    def note(action: str, text: str, version: int) -> Any:
        return host_client.post_form(
            note_url,
            {
                "note-dap_data": text,
                "note-dap_assessment": "",
                "note-dap_plan": "",
                "note-version": str(version),
                "action": action,
            },
        )

    assert note("sign", "", 0).status_code == 422
    assert note("save", NOTE_TEXT, 0).status_code == 302
    heard.nothing()
    assert note("sign", NOTE_TEXT, note_version(host, appointment_id)).status_code == 302
    status = heard.one("note_signed", couple_id=couple_id, appointment_id=appointment_id)
    assert status == NoteStatus.SIGNED
    assert note("sign", NOTE_TEXT, note_version(host, appointment_id)).status_code == 409
    heard.nothing()

    # Couple closed: once; closing a closed file again, or reopening, sends nothing.
    assert host_client.post_form(f"{base}/close").status_code == 302
    status = heard.one("couple_closed", couple_id=couple_id, therapist_id=therapist_id)
    assert status == CoupleStatus.CLOSED
    assert host_client.post_form(f"{base}/close").status_code == 302
    assert host_client.post_form(f"{base}/reopen").status_code == 302
    assert host_client.post(f"{base}/close").status_code == 400  # no token
    heard.nothing()


def test_completing_an_intake_twice_is_one_event(host, clinician, host_client, heard):
    """A double submit (or the back button) on the review page is not a second completion."""
    couple_id = location_id(host_client.post_form(f"{PREFIX}/couples/new", couple_form()))
    heard.take()
    seed_intake(host, couple_id, "A", complete=False)
    review = f"{PREFIX}/couples/{couple_id}/intake/a/review"
    assert host_client.post_form(review).status_code == 302
    assert host_client.post_form(review).status_code == 302
    partner_id = partner_ids(host, couple_id)["A"]
    heard.one("intake_completed", couple_id=couple_id, partner_id=partner_id)


def test_receptionist_and_other_clinicians_send_nothing(
    host, clinician, other_clinician, receptionist, host_client, heard
):
    couple_id = location_id(host_client.post_form(f"{PREFIX}/couples/new", couple_form()))
    heard.take()
    seed_intake(host, couple_id, "A", complete=False)
    # The receptionist gets no page of ours; another clinician is not told the couple exists.
    for staff, refused in ((receptionist, 403), (other_clinician, 404)):
        client = host.test_client()
        client.sign_in(staff)
        for url in (
            f"{PREFIX}/couples/{couple_id}/close",
            f"{PREFIX}/couples/{couple_id}/intake/a/review",
            f"{PREFIX}/couples/{couple_id}/appointments",
        ):
            response = client.post_form(url, {"attendance": "both", "status": "completed"})
            assert response.status_code == refused, (staff.name, url)
    heard.nothing()
    with fresh_session(host) as session:
        assert session.scalar(select(Couple.status)) == CoupleStatus.ACTIVE
        assert session.scalar(select(func.count()).select_from(CounselorAppointment)) == 0
        statuses = session.scalars(select(Response.status)).all()
        assert statuses and set(statuses) == {ResponseStatus.DRAFT}


@pytest.mark.parametrize(
    "value",
    # A single word too ("Jordan", "handout"): a free string could be a name.
    ["Jordan", "handout", "Jordan and Riley", "", 1.5, True, None, ["1"], {"id": 1}, b"1"],
    ids=repr,
)
def test_send_refuses_anything_but_ids_and_codes(host, heard, value):
    with host.app_context(), pytest.raises(TypeError, match="must be an id or one of our codes"):
        signals.send(signals.note_signed, couple_id=1, appointment_id=value)
    heard.nothing()


def test_send_passes_ids_and_codes_from_the_current_app(host, heard):
    with host.app_context():
        signals.send(signals.document_issued, couple_id=3, document_id=4, kind=DocumentKind.HANDOUT)
    assert heard.one("document_issued", couple_id=3, document_id=4, kind="handout") is None
