"""What a host app calls from Python: our therapist for one of its clinicians, a couple found
or made by the host's own client reference, and links into our pages.

Call these inside an app context (a request of the host's, a CLI command, a job with
``app.app_context()``). They flush but never commit: the host commits them with its own work,
in one transaction when we share its database. ``clinician`` is the same kind of object the
``identity`` callable returns (``external_id``, ``name``, ``email``, ``is_admin``).
"""

from __future__ import annotations

from typing import Any

from counselor_app.auth.identity import therapist_of
from counselor_app.couples import services as couples
from counselor_app.couples.services import CoupleDetails, CoupleError, PartnerDetails
from counselor_app.models import Couple, RelationshipStage, Therapist
from counselor_app.web import counselor_url

__all__ = [
    "CoupleDetails",
    "CoupleError",
    "PartnerDetails",
    "RelationshipStage",
    "couple_url",
    "find_couple",
    "find_or_create_couple",
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
