"""Entering a partner's intake: the steps, drafts, completion, and changes after completion.

A partner's intake is three instruments answered in one sitting: the couple intake
questionnaire, the CSI-4 and the safety screen. Each is stored as its own Response recording the
instrument id and version it answered. Both partners of a couple answer the same version of the
intake questionnaire (the one the first of them began), so the pair is scored by one ruleset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from counselor_app.extensions import db
from counselor_app.instruments import (
    CSI4_ID,
    INTAKE_ID,
    SAFETY_ID,
    Instrument,
    Section,
    load,
    missing_required,
)
from counselor_app.instruments.registry import latest_version
from counselor_app.models import (
    Couple,
    Partner,
    Response,
    ResponseChange,
    ResponseStatus,
    Therapist,
)
from counselor_app.models.base import StaleEdit, flush_versioned, utcnow

INSTRUMENT_ORDER = (INTAKE_ID, CSI4_ID, SAFETY_ID)


@dataclass(frozen=True)
class Step:
    """One page of the entry form: a section of one instrument."""

    slug: str
    instrument: Instrument
    section: Section


@dataclass(frozen=True)
class StepProgress:
    step: Step
    answered: int
    required_missing: int

    @property
    def state(self) -> str:
        """'todo', 'started' or 'done': drives the step's style and symbol."""
        if self.answered == 0:
            return "todo"
        return "started" if self.required_missing else "done"

    @property
    def description(self) -> str:
        return {
            "todo": "Not started",
            "started": f"{self.required_missing} required to go",
            "done": "Done",
        }[self.state]


@dataclass(frozen=True)
class Progress:
    steps: tuple[StepProgress, ...]
    complete: bool
    completed_at: Any
    # The last time the partner saved answers by their own link (None: never).
    partner_answered_at: datetime | None = None

    @property
    def required_total(self) -> int:
        return sum(sum(1 for item in p.step.section.items if item.required) for p in self.steps)

    @property
    def required_answered(self) -> int:
        return self.required_total - sum(p.required_missing for p in self.steps)

    @property
    def started(self) -> bool:
        return any(p.answered for p in self.steps)


def intake_version(couple_id: int) -> int:
    """The intake version this couple answers: the one either partner began (the older, should
    an import ever have mixed them), else the latest. Version 1 answers stay on version 1."""
    begun = db.session.scalar(
        select(func.min(Response.instrument_version)).where(
            Response.couple_id == couple_id, Response.instrument_id == INTAKE_ID
        )
    )
    return begun if begun is not None else latest_version(INTAKE_ID)


def intake_version_of(responses: dict[str, dict[str, Response]]) -> int:
    """``intake_version`` from a couple's responses already loaded (no query)."""
    begun = [
        found[INTAKE_ID].instrument_version for found in responses.values() if INTAKE_ID in found
    ]
    return min(begun) if begun else latest_version(INTAKE_ID)


def _own_version(responses: dict[str, Response]) -> int | None:
    response = responses.get(INTAKE_ID)
    return response.instrument_version if response else None


@cache
def steps(version: int | None = None) -> tuple[Step, ...]:
    """The pages of the entry form on this intake version (the latest when None), in order:
    intake sections, then CSI-4, then safety (those two at their latest version)."""
    instruments = (load(INTAKE_ID, version), load(CSI4_ID), load(SAFETY_ID))
    return tuple(
        Step(slug=section.key, instrument=instrument, section=section)
        for instrument in instruments
        for section in instrument.sections
    )


def step_by_slug(slug: str, version: int | None = None) -> Step | None:
    return next((step for step in steps(version) if step.slug == slug), None)


def neighbours(step: Step, version: int | None = None) -> tuple[Step | None, Step | None]:
    ordered = steps(version)
    index = ordered.index(step)
    previous = ordered[index - 1] if index else None
    following = ordered[index + 1] if index + 1 < len(ordered) else None
    return previous, following


def partner_by_label(couple: Couple, label: str) -> Partner | None:
    return next((p for p in couple.partners if p.label == label.upper()), None)


def responses_of(partner: Partner) -> dict[str, Response]:
    """This partner's responses by instrument id (one query; never the other partner's)."""
    rows = db.session.scalars(select(Response).where(Response.partner_id == partner.id))
    return {row.instrument_id: row for row in rows}


def responses_of_couple(
    couple: Couple, *, with_changes: bool = False
) -> dict[str, dict[str, Response]]:
    """Both partners' responses: label -> instrument id -> response, in one query (two
    ``with_changes``: the answers' change history, for the pages that show it)."""
    labels = {partner.id: partner.label for partner in couple.partners}
    found: dict[str, dict[str, Response]] = {"A": {}, "B": {}}
    query = select(Response).where(Response.couple_id == couple.id)
    if with_changes:
        query = query.options(selectinload(Response.changes))
    for row in db.session.scalars(query):
        found[labels[row.partner_id]][row.instrument_id] = row
    return found


def progress_by_partner(couple: Couple) -> dict[str, Progress]:
    """Each partner's intake progress (counts only), for the couple page."""
    responses = responses_of_couple(couple)
    version = intake_version_of(responses)
    return {label: progress(found, version) for label, found in responses.items()}


def section_values(response: Response | None, step: Step) -> dict[str, Any]:
    if response is None:
        return {}
    return {item.id: response.answers.get(item.id) for item in step.section.items}


def progress(responses: dict[str, Response], version: int | None = None) -> Progress:
    """Progress page by page, on ``version`` of the intake (None: the version this partner's
    intake response is on, else the latest)."""
    results = []
    for step in steps(version or _own_version(responses)):
        answers = responses[step.instrument.id].answers if step.instrument.id in responses else {}
        items = step.section.items
        answered = sum(1 for item in items if answers.get(item.id) not in (None, ""))
        missing = sum(1 for item in items if item.required and answers.get(item.id) in (None, ""))
        results.append(StepProgress(step, answered, missing))
    complete = is_complete(responses)
    completed = [r.completed_at for r in responses.values() if r.completed_at]
    by_partner = [r.partner_answered_at for r in responses.values() if r.partner_answered_at]
    return Progress(
        tuple(results),
        complete,
        max(completed) if complete and completed else None,
        max(by_partner) if by_partner else None,
    )


def is_complete(responses: dict[str, Response]) -> bool:
    """Whether all three of the partner's instruments are marked complete."""
    return all(responses.get(i) is not None and responses[i].is_complete for i in INSTRUMENT_ORDER)


def version_token(responses: dict[str, Response], step: Step) -> int:
    """The version the page is built from: 0 while nothing has been saved yet."""
    response = responses.get(step.instrument.id)
    return response.version if response else 0


def save_section(
    partner: Partner,
    step: Step,
    values: dict[str, Any],
    *,
    expected_version: int,
    therapist: Therapist,
) -> bool:
    """Store one page's answers in the partner's draft (or complete) response.

    Returns whether any answer changed. Raises StaleEdit when another save came first.
    """
    response = responses_of(partner).get(step.instrument.id)
    current = response.version if response else 0
    if current != expected_version:
        raise StaleEdit
    if response is None:
        response = Response(
            couple_id=partner.couple_id,
            partner_id=partner.id,
            instrument_id=step.instrument.id,
            instrument_version=step.instrument.version,
            answers={},
        )
        db.session.add(response)
    changed = _merge(response, values)
    if response.is_complete and changed:
        _record_changes(response, changed, therapist)
        if missing_required(step.instrument, response.answers):
            # A required answer was cleared: the response is a draft again until re-completed.
            response.status = ResponseStatus.DRAFT
            response.completed_at = None
    response.updated_at = utcnow()
    flush_versioned(db.session)
    return bool(changed)


def _merge(response: Response, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Apply the page's values; return item id -> (old, new) for what actually changed."""
    answers = dict(response.answers)
    changed: dict[str, tuple[Any, Any]] = {}
    for item_id, value in values.items():
        old = answers.get(item_id)
        if value is None:
            answers.pop(item_id, None)
        else:
            answers[item_id] = value
        if old != value:
            changed[item_id] = (old, value)
    # A new dict, so SQLAlchemy sees the JSON column change.
    response.answers = answers
    return changed


def _record_changes(
    response: Response, changed: dict[str, tuple[Any, Any]], therapist: Therapist
) -> None:
    for item_id, (old, new) in changed.items():
        response.changes.append(
            ResponseChange(
                item_id=item_id, old_value=old, new_value=new, changed_by_id=therapist.id
            )
        )


def missing_for_completion(
    responses: dict[str, Response], version: int | None = None
) -> list[tuple[Step, list[str]]]:
    """Required items still unanswered, grouped by page, for the review page's links."""
    result = []
    for step in steps(version or _own_version(responses)):
        response = responses.get(step.instrument.id)
        answers = response.answers if response else {}
        section_ids = {item.id for item in step.section.items}
        missing = [i for i in missing_required(step.instrument, answers) if i in section_ids]
        if missing:
            result.append((step, missing))
    return result


@dataclass(frozen=True)
class Completion:
    """What marking an intake complete did: what is still missing (nothing was marked then),
    and whether any instrument became complete now (a repeated submit marks none)."""

    missing: list[tuple[Step, list[str]]]
    newly_complete: bool


def complete(partner: Partner) -> Completion:
    """Mark the partner's intake complete, unless required answers are still missing."""
    responses = responses_of(partner)
    missing = missing_for_completion(responses, intake_version(partner.couple_id))
    if missing:
        return Completion(missing, newly_complete=False)
    now = utcnow()
    pending = [r for r in (responses[i] for i in INSTRUMENT_ORDER) if not r.is_complete]
    for response in pending:
        response.status = ResponseStatus.COMPLETE
        response.completed_at = now
    db.session.flush()
    return Completion([], newly_complete=bool(pending))
