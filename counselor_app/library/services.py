"""A therapist's strategy library: the shipped strategies with their own wording and additions.

The shipped text (strategies_v1.toml) is never changed: a therapist's wording is stored beside
it, per therapist, and "restore" simply removes that wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from counselor_app.extensions import db
from counselor_app.library.model import Strategy, load_library
from counselor_app.models import StrategyText, Therapist
from counselor_app.models.base import check_version, flush_versioned

Origin = Literal["shipped", "customised", "own"]
OWN_PREFIX = "own-"
CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class LibraryEntry:
    strategy: Strategy
    origin: Origin
    version: int  # of the therapist's stored text; 0 while they use the shipped wording


@dataclass(frozen=True)
class StrategyValues:
    title: str
    challenges: tuple[str, ...]
    minutes: int
    therapist_guidance: str
    client_explanation: str
    steps: tuple[str, ...]
    homework: str
    reflection_questions: tuple[str, ...]


def _rows(therapist: Therapist) -> dict[str, StrategyText]:
    query = select(StrategyText).where(StrategyText.therapist_id == therapist.id)
    return {row.key: row for row in db.session.scalars(query)}


def _strategy(row: StrategyText) -> Strategy:
    return Strategy(
        key=row.key,
        title=row.title,
        challenges=tuple(row.challenges),
        minutes=row.minutes,
        therapist_guidance=row.therapist_guidance,
        client_explanation=row.client_explanation,
        steps=tuple(row.steps),
        homework=row.homework,
        reflection_questions=tuple(row.reflection_questions),
    )


def entries(therapist: Therapist) -> dict[str, LibraryEntry]:
    """Every strategy this therapist can use, shipped ones first (in library order)."""
    rows = _rows(therapist)
    found: dict[str, LibraryEntry] = {}
    for shipped in load_library().strategies:
        row = rows.pop(shipped.key, None)
        if row is None:
            found[shipped.key] = LibraryEntry(shipped, "shipped", 0)
        else:
            found[shipped.key] = LibraryEntry(_strategy(row), "customised", row.version)
    for key, row in sorted(rows.items(), key=lambda item: item[1].title.lower()):
        found[key] = LibraryEntry(_strategy(row), "own", row.version)
    return found


def strategies_for(therapist: Therapist) -> dict[str, Strategy]:
    """Key -> strategy as this therapist words it: what plans and handouts use."""
    return {key: entry.strategy for key, entry in entries(therapist).items()}


def _write(row: StrategyText, values: StrategyValues) -> None:
    row.title = values.title
    row.challenges = list(values.challenges)
    row.minutes = values.minutes
    row.therapist_guidance = values.therapist_guidance
    row.client_explanation = values.client_explanation
    row.steps = list(values.steps)
    row.homework = values.homework
    row.reflection_questions = list(values.reflection_questions)


def save(therapist: Therapist, key: str, values: StrategyValues, *, expected_version: int) -> None:
    """Store the therapist's wording of a shipped strategy, or edit one of their own."""
    row = _rows(therapist).get(key)
    check_version(row, expected_version)
    if row is None:
        row = StrategyText(therapist_id=therapist.id, key=key, is_custom=False)
        db.session.add(row)
    _write(row, values)
    flush_versioned(db.session)


def restore(therapist: Therapist, key: str, *, expected_version: int) -> bool:
    """Go back to the shipped wording; False when there was nothing to restore. StaleEdit when
    the wording changed since the page showed it."""
    row = _rows(therapist).get(key)
    if row is None or row.is_custom:
        return False
    check_version(row, expected_version)
    db.session.delete(row)
    flush_versioned(db.session)
    return True


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "strategy"


def create_own(therapist: Therapist, values: StrategyValues) -> str:
    """Add a strategy of the therapist's own; returns its key."""
    base = f"{OWN_PREFIX}{_slug(values.title)}"
    for _ in range(CREATE_ATTEMPTS):
        taken = set(_rows(therapist))
        key, number = base, 2
        while key in taken:
            key, number = f"{base}-{number}", number + 1
        row = StrategyText(therapist_id=therapist.id, key=key, is_custom=True)
        _write(row, values)
        try:
            # A savepoint: losing a race for the key (another tab, same title) costs one retry.
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            continue
        return key
    raise RuntimeError("Could not find a free key for the new strategy.")
