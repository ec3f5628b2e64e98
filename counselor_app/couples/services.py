"""Couples: listing, creating, editing, closing and reopening, always within one therapist."""

from __future__ import annotations

from dataclasses import dataclass

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from counselor_app.extensions import db
from counselor_app.models import Couple, CoupleStatus, Partner, RelationshipStage, Therapist
from counselor_app.models.base import check_version, flush_versioned, utcnow


@dataclass(frozen=True)
class PartnerDetails:
    display_name: str
    pronouns: str = ""
    email: str | None = None


@dataclass(frozen=True)
class CoupleDetails:
    partner_a: PartnerDetails
    partner_b: PartnerDetails
    relationship_stage: RelationshipStage
    relationship_length_months: int | None
    presenting_concerns: str


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
    query = owned_couples(therapist).options(selectinload(Couple.partners))
    if search:
        query = query.where(
            Couple.partners.any(Partner.display_name.icontains(search, autoescape=True))
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
    couple = Couple(therapist=therapist, partners=[Partner(label="A"), Partner(label="B")])
    _apply(couple, details)
    db.session.add(couple)
    db.session.flush()
    return couple


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
