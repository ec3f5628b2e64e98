"""What a host app calls from Python: our therapist for one of its clinicians, a couple found
or made by the host's own client reference, and links into our pages.

Call these inside an app context (a request of the host's, a CLI command, a job with
``app.app_context()``). They flush but never commit: the host commits them with its own work,
in one transaction when we share its database. ``clinician`` is the same kind of object the
``identity`` callable returns (``external_id``, ``name``, ``email``, ``is_admin``).
"""

from __future__ import annotations

from typing import Any

from counselor_app.audit import services as audit
from counselor_app.auth.identity import therapist_of
from counselor_app.couples import services as couples
from counselor_app.couples.services import CoupleDetails, CoupleError, PartnerDetails
from counselor_app.extensions import db
from counselor_app.fhir import services as fhir
from counselor_app.fhir.services import FhirImportError, Imported
from counselor_app.intake.services import partner_by_label
from counselor_app.models import Couple, RelationshipStage, Therapist
from counselor_app.web import counselor_url

__all__ = [
    "CoupleDetails",
    "CoupleError",
    "FhirImportError",
    "Imported",
    "PartnerDetails",
    "RelationshipStage",
    "couple_url",
    "find_couple",
    "find_or_create_couple",
    "import_questionnaire_response",
    "therapist_for",
]

# The pages a host may link to, and the endpoint each is.
PAGES = {
    "detail": "couple.detail",
    "assessment": "couple.assessment.index",
    "plans": "couple.plans.index",
    "appointments": "couple.appointments.index",
    "progress": "couple.progress.index",
    "intake": "couple.intake.start",  # with label="a" or "b"
}


def therapist_for(clinician: Any) -> Therapist:
    """Our therapist for a host clinician, made on first use; LookupError if deactivated."""
    therapist = therapist_of(clinician)
    if therapist is None:
        raise LookupError("This clinician's account is deactivated in the couples package.")
    return therapist


def find_couple(clinician: Any, external_id: str) -> Couple | None:
    """The clinician's couple with this host reference, or None (another's is never found)."""
    return couples.find_by_external_id(therapist_for(clinician), external_id)


def find_or_create_couple(clinician: Any, details: CoupleDetails) -> tuple[Couple, bool]:
    """The clinician's couple with ``details.external_id``, made from ``details`` when there is
    none; the flag says whether it was made. CoupleError when a reference is taken."""
    if not details.external_id:
        raise CoupleError("A host reference (external_id) is needed to find the couple again.")
    therapist = therapist_for(clinician)
    found = couples.find_by_external_id(therapist, details.external_id)
    if found is not None:
        return found, False
    return couples.create_couple(therapist, details), True


def couple_url(couple: Couple | int, page: str = "detail", **values: Any) -> str:
    """A link to one of the couple's pages (see PAGES), for the host's own pages or emails."""
    if page not in PAGES:
        raise ValueError(f"No page {page!r}: choose one of {', '.join(PAGES)}.")
    couple_id = couple if isinstance(couple, int) else couple.id
    return counselor_url(PAGES[page], couple_id=couple_id, **values)


def import_questionnaire_response(
    couple: Couple | int,
    partner_label: str,
    resource: dict[str, Any] | str | bytes,
    *,
    record_as: str | None = None,
) -> Imported:
    """Import a FHIR QuestionnaireResponse (a dict, or its JSON) for partner "A" or "B".

    Checked as the import page checks it, then stored as if the couple's therapist had typed
    it (intake: re-scored, flags refreshed; a check-in: between sessions at its authored
    time). ``record_as`` ("intake" or "check-in") says where a CSI-4 from elsewhere belongs.
    FhirImportError, with nothing stored, for any problem: its ``problems`` name the items.
    Audited as the couple's therapist's update. Flushes; the host commits.
    """
    found = db.session.get(Couple, couple) if isinstance(couple, int) else couple
    if found is None:
        raise LookupError(f"No couple {couple}.")
    label = str(partner_label).upper()
    partner = partner_by_label(found, label) if label in ("A", "B") else None
    if partner is None:
        raise ValueError(f'No partner {partner_label!r}: choose "A" or "B".')
    imported = fhir.import_response(
        found, partner, resource, therapist=found.therapist, record_as=record_as
    )
    # No request to take it from: recorded here, with what the host asked for.
    audit.record(
        "update",
        therapist_id=found.therapist_id,
        object_type="couple",
        object_id=found.id,
        couple_id=found.id,
        endpoint="api.import_questionnaire_response",
    )
    return imported
