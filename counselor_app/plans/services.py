"""Session plans: strategies as this therapist has them, prefilling, saving, and issuing PDFs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from counselor_app.extensions import db
from counselor_app.library import Strategy
from counselor_app.models import (
    Couple,
    DocumentKind,
    Flag,
    IssuedDocument,
    PaperSize,
    Practice,
    SessionPlan,
    Therapist,
)
from counselor_app.models.base import check_version, flush_versioned

# The parts of a session, in order, with the minutes a 60-minute session usually gives them.
AGENDA_PARTS: tuple[tuple[str, str, int], ...] = (
    ("check_in", "Check-in", 5),
    ("homework_review", "Homework review", 10),
    ("focus_work", "Focus work", 30),
    ("homework", "Setting homework", 10),
    ("close", "Close", 5),
)
AGENDA_LABELS = {key: label for key, label, _ in AGENDA_PARTS}
SUGGESTED_STRATEGIES = 3
ISSUE_ATTEMPTS = 3


@dataclass(frozen=True)
class PlanValues:
    session_date: date
    goals: str
    agenda: list[dict[str, Any]]
    focus_flag_ids: list[int]
    strategy_keys: list[str]
    homework: list[dict[str, Any]]
    private_notes: str


# ------------------------------------------------------------------------------ plans
def suggested_strategy_keys(flags: list[Flag], strategies: dict[str, Strategy]) -> list[str]:
    """Strategies linked to the focus flags, most severe flag first, without repeats."""
    keys = [key for flag in flags for key in flag.strategies if key in strategies]
    return list(dict.fromkeys(keys))


def prefill(flags: list[Flag], strategies: dict[str, Strategy], today: date) -> PlanValues:
    """A first draft from the confirmed flags: their strategies and those strategies' homework."""
    chosen = suggested_strategy_keys(flags, strategies)[:SUGGESTED_STRATEGIES]
    return PlanValues(
        session_date=today,
        goals="",
        agenda=[{"part": key, "minutes": minutes, "notes": ""} for key, _, minutes in AGENDA_PARTS],
        focus_flag_ids=[flag.id for flag in flags],
        strategy_keys=chosen,
        homework=[{"strategy_key": key, "text": strategies[key].homework} for key in chosen],
        private_notes="",
    )


def plans_of(couple: Couple) -> list[SessionPlan]:
    query = (
        select(SessionPlan)
        .where(SessionPlan.couple_id == couple.id)
        .order_by(SessionPlan.session_date.desc(), SessionPlan.id.desc())
    )
    return list(db.session.scalars(query))


def _apply(plan: SessionPlan, values: PlanValues) -> None:
    plan.session_date = values.session_date
    plan.goals = values.goals
    plan.agenda = values.agenda
    plan.focus_flag_ids = values.focus_flag_ids
    plan.strategy_keys = values.strategy_keys
    plan.homework = values.homework
    plan.private_notes = values.private_notes


def create_plan(couple: Couple, therapist: Therapist, values: PlanValues) -> SessionPlan:
    plan = SessionPlan(couple_id=couple.id, created_by_id=therapist.id)
    _apply(plan, values)
    db.session.add(plan)
    db.session.flush()
    return plan


def update_plan(plan: SessionPlan, values: PlanValues, *, expected_version: int) -> None:
    check_version(plan, expected_version)
    _apply(plan, values)
    flush_versioned(db.session)


# ------------------------------------------------------------------------------ documents
def practice() -> Practice:
    """The practice settings, or unsaved defaults until an administrator saves them."""
    settings = db.session.scalar(select(Practice).order_by(Practice.id))
    return (
        settings if settings is not None else Practice(name="", paper_size=PaperSize.A4, version=0)
    )


def documents_of(couple: Couple) -> list[IssuedDocument]:
    query = (
        select(IssuedDocument)
        .where(IssuedDocument.couple_id == couple.id)
        .options(selectinload(IssuedDocument.issued_by))
        .order_by(IssuedDocument.issued_at.desc(), IssuedDocument.id.desc())
    )
    return list(db.session.scalars(query))


def series_of(plan: SessionPlan | None) -> str:
    return f"plan-{plan.id}" if plan is not None else "couple"


def latest_issued(
    couple_id: int, kind: DocumentKind, plan: SessionPlan | None = None
) -> IssuedDocument | None:
    return db.session.scalar(
        select(IssuedDocument)
        .where(
            IssuedDocument.couple_id == couple_id,
            IssuedDocument.series == series_of(plan),
            IssuedDocument.kind == kind,
        )
        .order_by(IssuedDocument.number.desc())
        .limit(1)
    )


def html_digest(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def store_issued(
    couple_id: int,
    kind: DocumentKind,
    html: str,
    pdf: bytes,
    therapist: Therapist,
    *,
    stem: str,
    plan: SessionPlan | None = None,
    series: str | None = None,
) -> IssuedDocument:
    """Keep a PDF exactly as issued, numbered 1, 2, ... per couple, series and kind.

    The series is the plan's for a plan's documents; reports name their own (per partner).
    """
    series = series or series_of(plan)
    for _ in range(ISSUE_ATTEMPTS):
        latest = db.session.scalar(
            select(IssuedDocument)
            .where(
                IssuedDocument.couple_id == couple_id,
                IssuedDocument.series == series,
                IssuedDocument.kind == kind,
            )
            .order_by(IssuedDocument.number.desc())
            .limit(1)
        )
        number = (latest.number if latest else 0) + 1
        document = IssuedDocument(
            couple_id=couple_id,
            plan_id=plan.id if plan is not None else None,
            kind=kind,
            series=series,
            number=number,
            source_digest=html_digest(html),
            filename=f"{stem}-v{number}.pdf",
            sha256=hashlib.sha256(pdf).hexdigest(),
            size=len(pdf),
            content=pdf,
            issued_by_id=therapist.id,
        )
        try:
            # Two issues at once would both pick the same number: the unique constraint turns
            # that into a retry with the next number, never into two "version 2"s.
            with db.session.begin_nested():
                db.session.add(document)
        except IntegrityError:
            continue
        return document
    raise RuntimeError("Could not number the issued document.")
