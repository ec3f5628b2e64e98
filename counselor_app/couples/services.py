"""Couples: listing, creating, editing, closing and reopening, always within one therapist."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import defer, selectinload

from counselor_app.assessment.services import export_intake
from counselor_app.encryption import shown
from counselor_app.extensions import db
from counselor_app.fhir.services import couple_bundle
from counselor_app.fhir.services import to_json as fhir_json
from counselor_app.invitations.services import export_invitations
from counselor_app.models import (
    Appointment,
    CheckIn,
    Couple,
    CoupleStatus,
    FormDraft,
    Invitation,
    IssuedDocument,
    Partner,
    RelationshipStage,
    Response,
    SessionNote,
    SessionPlan,
    Therapist,
)
from counselor_app.models.base import check_version, flush_versioned, utcnow
from counselor_app.plans.services import documents_of, plans_of


@dataclass(frozen=True)
class PartnerDetails:
    display_name: str
    pronouns: str = ""
    email: str | None = None
    # The host's own reference for this person (its client id); set when the couple is made.
    external_id: str | None = None


@dataclass(frozen=True)
class CoupleDetails:
    partner_a: PartnerDetails
    partner_b: PartnerDetails
    relationship_stage: RelationshipStage
    relationship_length_months: int | None
    presenting_concerns: str
    # The host's own reference for this couple; set when the couple is made.
    external_id: str | None = None


class CoupleError(ValueError):
    """A couple that cannot be made as asked; the message is for the user."""


def owned_couples(therapist: Therapist) -> Select[tuple[Couple]]:
    """The one query every couple lookup starts from: nothing outside the therapist's own."""
    return select(Couple).where(Couple.therapist_id == therapist.id)


def get_owned_couple(therapist: Therapist, couple_id: int) -> Couple:
    """The couple if it is this therapist's; a 404 otherwise, so ids of others stay hidden."""
    query = owned_couples(therapist).where(Couple.id == couple_id)
    return db.first_or_404(query.options(selectinload(Couple.partners)))


def search_couples(
    therapist: Therapist,
    *,
    search: str = "",
    status: CoupleStatus | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Pagination:
    # The list never shows the presenting concerns: they stay encrypted and unread.
    query = owned_couples(therapist).options(
        selectinload(Couple.partners), defer(Couple.presenting_concerns)
    )
    if search:
        # A host's reference (its client id) finds the couple too, exactly as written.
        query = query.where(
            Couple.partners.any(Partner.display_name.icontains(search, autoescape=True))
            | (Couple.external_id == search.strip())
            | Couple.partners.any(Partner.external_id == search.strip())
        )
    if status is not None:
        query = query.where(Couple.status == status)
    query = query.order_by(Couple.updated_at.desc(), Couple.id.desc())
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def _apply_partner(partner: Partner, details: PartnerDetails) -> None:
    partner.display_name = details.display_name
    partner.pronouns = details.pronouns
    partner.email = details.email or None


def create_couple(therapist: Therapist, details: CoupleDetails) -> Couple:
    _check_external_ids(therapist, details)
    couple = Couple(
        therapist=therapist,
        external_id=details.external_id,
        partners=[
            Partner(label="A", external_id=details.partner_a.external_id),
            Partner(label="B", external_id=details.partner_b.external_id),
        ],
    )
    _apply(couple, details)
    db.session.add(couple)
    db.session.flush()
    return couple


def _check_external_ids(therapist: Therapist, details: CoupleDetails) -> None:
    """A host reference names one couple, and one partner, within a therapist's records."""
    if details.external_id and find_by_external_id(therapist, details.external_id):
        raise CoupleError("Another couple already has this host reference.")
    for partner in (details.partner_a, details.partner_b):
        if partner.external_id and db.session.scalar(
            select(Partner.id)
            .join(Couple)
            .where(Couple.therapist_id == therapist.id, Partner.external_id == partner.external_id)
        ):
            raise CoupleError("Another partner already has this host reference.")
    if details.partner_a.external_id and (
        details.partner_a.external_id == details.partner_b.external_id
    ):
        raise CoupleError("The two partners cannot share one host reference.")


def find_by_external_id(therapist: Therapist, external_id: str) -> Couple | None:
    query = owned_couples(therapist).where(Couple.external_id == external_id)
    return db.session.scalar(query.options(selectinload(Couple.partners)))


def update_couple(couple: Couple, details: CoupleDetails, *, expected_version: int) -> None:
    """Apply an edit made from the page that showed ``expected_version``."""
    check_version(couple, expected_version)
    _apply(couple, details)
    # Touching the couple row makes every edit (partners' details too) bump its version.
    couple.updated_at = utcnow()
    flush_versioned(db.session)


def _apply(couple: Couple, details: CoupleDetails) -> None:
    couple.relationship_stage = details.relationship_stage
    couple.relationship_length_months = details.relationship_length_months
    couple.presenting_concerns = details.presenting_concerns
    _apply_partner(couple.partners[0], details.partner_a)
    _apply_partner(couple.partners[1], details.partner_b)


def set_status(couple: Couple, status: CoupleStatus) -> bool:
    """Close or reopen; False when the couple already had that status."""
    if couple.status == status:
        return False
    couple.status = status
    return True


# --- Export and erase ------------------------------------------------------------------------

EXPORT_README = """\
The complete record of one couple, exported from counselor_app on {exported_at} (UTC).

couple.json   the couple, both partners, the intake with its scores, flags and safety alert,
              every session plan, every appointment with its check-ins, homework review,
              flag statuses and session note (with addenda), the check-ins partners
              answered between sessions, and the links partners were sent (never the
              links themselves)
fhir-bundle.json
              every questionnaire response (each partner's intake, CSI-4 and safety
              screen, and every check-in) as FHIR R4 QuestionnaireResponses in one Bundle
              (type collection), for another clinical system; each names the Questionnaire
              it answers by canonical URL and version
documents/    every PDF issued for this couple, exactly as it was issued (checksums in
              couple.json)

The appointments' private psychotherapy notes are kept apart from the clinical record and
are not exported. A plan's notes to self are part of the plan (and of its issued PDF).
This archive holds protected health information: store and send it accordingly.
"""


def export_record(couple: Couple) -> dict[str, Any]:
    """The couple's whole clinical record as plain JSON values."""
    return {
        "format": "counselor_app.couple-export",
        "format_version": 1,
        "exported_at": utcnow().isoformat(),
        "couple": {
            "id": couple.id,
            "status": couple.status.value,
            "relationship_stage": couple.relationship_stage.value,
            "relationship_length_months": couple.relationship_length_months,
            "presenting_concerns": couple.presenting_concerns,
            "created_at": couple.created_at.isoformat(),
        },
        "partners": [
            {
                "label": p.label,
                "display_name": p.display_name,
                "pronouns": p.pronouns,
                "email": p.email,
            }
            for p in couple.partners
        ],
        "intake": export_intake(couple),
        "plans": [_plan_export(plan) for plan in reversed(plans_of(couple))],
        "appointments": [_appointment_export(a) for a in _appointments_for_export(couple)],
        "check_ins_between_sessions": [
            _check_in_export(c) for c in _check_ins_between_sessions(couple)
        ],
        "invitations": export_invitations(couple),
        "documents": [
            {
                "id": d.id,
                "kind": d.kind.value,
                "number": d.number,
                "plan_id": d.plan_id,
                "issued_at": d.issued_at.isoformat(),
                "file": archive_name(d),
                "sha256": d.sha256,
            }
            for d in reversed(documents_of(couple))
        ],
    }


def export_archive(couple: Couple) -> bytes:
    """A ZIP of export_record as couple.json, the answers as a FHIR Bundle, and every issued
    PDF under documents/."""
    record = export_record(couple)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", EXPORT_README.format(exported_at=record["exported_at"]))
        archive.writestr("couple.json", json.dumps(record, indent=2, ensure_ascii=False))
        archive.writestr("fhir-bundle.json", fhir_json(couple_bundle(couple)))
        for document in documents_of(couple):
            archive.writestr(archive_name(document), document.content)
    return buffer.getvalue()


def archive_name(document: IssuedDocument) -> str:
    # The id keeps names unique even if two documents were issued under the same file name.
    return f"documents/{document.id}-{document.filename}"


def _plan_export(plan: SessionPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "session_date": plan.session_date.isoformat(),
        "goals": plan.goals,
        "agenda": shown(plan.agenda),
        "focus_flag_ids": plan.focus_flag_ids,
        "strategy_keys": plan.strategy_keys,
        "homework": shown(plan.homework),
        "private_notes": plan.private_notes,
    }


def _appointments_for_export(couple: Couple) -> list[Appointment]:
    query = (
        select(Appointment)
        .where(Appointment.couple_id == couple.id)
        .options(
            selectinload(Appointment.check_ins),
            selectinload(Appointment.homework_reviews),
            selectinload(Appointment.flag_records),
            selectinload(Appointment.note).selectinload(SessionNote.addenda),
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )
    return list(db.session.scalars(query))


def _appointment_export(appointment: Appointment) -> dict[str, Any]:
    note = appointment.note
    return {
        "id": appointment.id,
        "starts_at": appointment.starts_at.isoformat(),
        "duration_minutes": appointment.duration_minutes,
        "status": appointment.status.value,
        "attendance": appointment.attendance.value if appointment.attendance else None,
        "plan_id": appointment.plan_id,
        "check_ins": [_check_in_export(c) for c in appointment.check_ins],
        "homework_review": [
            {
                "partner": h.partner_label,
                "assignment": h.assignment,
                "outcome": h.outcome.value if h.outcome else None,
                "note": h.note,
            }
            for h in appointment.homework_reviews
        ],
        "flag_statuses": [
            {"flag_id": r.flag_id, "status": r.status.value} for r in appointment.flag_records
        ],
        "note": None
        if note is None
        else {
            "data": note.data,
            "assessment": note.assessment,
            "plan": note.plan,
            "status": note.status.value,
            "signed_at": note.signed_at.isoformat() if note.signed_at else None,
            "addenda": [
                {"text": a.text, "created_at": a.created_at.isoformat()} for a in note.addenda
            ],
        },
    }


def _check_ins_between_sessions(couple: Couple) -> list[CheckIn]:
    query = (
        select(CheckIn)
        .where(CheckIn.couple_id == couple.id, CheckIn.appointment_id.is_(None))
        .order_by(CheckIn.answered_at, CheckIn.id)
    )
    return list(db.session.scalars(query))


def _check_in_export(check_in: CheckIn) -> dict[str, Any]:
    return {
        "partner": check_in.partner_label,
        "instrument": check_in.instrument_id,
        "instrument_version": check_in.instrument_version,
        "answers": shown(check_in.answers),
        "total": check_in.total,
        # Answered away from a session (by link, or imported): when; and whether by link.
        "answered_at": check_in.answered_at.isoformat() if check_in.answered_at else None,
        "answered_by_partner": check_in.by_partner,
    }


def erase_couple(couple: Couple) -> None:
    """Delete the couple and, through the database's ON DELETE CASCADE, every row of their
    clinical data (intake, flags, safety alert, plans, issued PDFs, appointments, notes).

    The audit trail keeps its rows: they hold ids and actions, never clinical content.
    """
    couple_id, therapist_id = couple.id, couple.therapist_id
    db.session.expunge(couple)
    db.session.execute(delete(Couple).where(Couple.id == couple_id))
    # Text kept from this couple's forms over an expired session goes too.
    page, below = f"%/couples/{couple_id}", f"%/couples/{couple_id}/%"
    db.session.execute(
        delete(FormDraft).where(
            FormDraft.therapist_id == therapist_id,
            FormDraft.path.like(page) | FormDraft.path.like(below),
        )
    )


def record_counts(couple: Couple) -> dict[str, int]:
    """How much an erase would remove, for the confirmation page."""

    def count(model: Any) -> int:
        query = select(func.count()).select_from(model).where(model.couple_id == couple.id)
        return db.session.scalar(query) or 0

    return {
        "questionnaire responses": count(Response),
        "session plans": count(SessionPlan),
        "issued documents": count(IssuedDocument),
        "appointments (with their check-ins and notes)": count(Appointment),
        "links sent to partners": count(Invitation),
    }
