"""The shape of a questionnaire, and the checks every answer must pass.

Instruments are data (TOML files beside this module); these frozen dataclasses are what the rest of
the app sees once a file is loaded. Nothing here knows about Flask or the database, so the same
validation runs in a form, a service, an import script or a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

ItemKind = Literal["likert", "hours", "choice", "text"]
AnswerValue = int | str
ITEM_KINDS: tuple[str, ...] = ("likert", "hours", "choice", "text")

# A free-text answer longer than this is almost certainly a paste accident, not an intake answer.
MAX_TEXT_LENGTH = 4000


class AnswerError(ValueError):
    """An answer the instrument does not allow (unknown option, out of range, wrong type)."""

    def __init__(self, item_id: str, message: str) -> None:
        super().__init__(f"{item_id}: {message}")
        self.item_id = item_id
        self.message = message


@dataclass(frozen=True)
class Option:
    """One answer a respondent may pick. ``positive`` marks a safety-screen answer that needs
    follow-up; it is False everywhere else."""

    value: AnswerValue
    label: str
    positive: bool = False


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    kind: ItemKind
    options: tuple[Option, ...] = ()
    domain: str | None = None
    reverse: bool = False
    required: bool = True
    min_value: int | None = None
    max_value: int | None = None
    help: str | None = None

    def option(self, value: AnswerValue) -> Option | None:
        """The option whose value matches ``value`` (form posts arrive as strings)."""
        wanted = str(value)
        for opt in self.options:
            if str(opt.value) == wanted:
                return opt
        return None

    def label_for(self, value: AnswerValue | None) -> str | None:
        """What a therapist should read for a stored value: the anchor label, not the number."""
        if value is None:
            return None
        if self.kind == "hours":
            return "1 hour" if value == 1 else f"{value} hours"
        if self.kind == "text":
            return str(value)
        opt = self.option(value)
        return opt.label if opt else str(value)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    intro: str  # read to the partner
    items: tuple[Item, ...]
    therapist_note: str = ""  # for the therapist only: how to ask this section


@dataclass(frozen=True)
class Scoring:
    """How the instrument is scored, kept with the data so a new version can change it.

    method: "domains" (0–100 per domain), "sum" (plain total), "screen" (any positive answer).
    """

    method: Literal["domains", "sum", "screen"]
    min_total: int | None = None
    max_total: int | None = None
    cutoff: float | None = None
    cutoff_note: str | None = None
    min_fraction: float = 0.5


@dataclass(frozen=True)
class Instrument:
    id: str
    version: int
    title: str
    description: str
    source: str
    licence: str
    sections: tuple[Section, ...]
    scoring: Scoring
    estimated_minutes: int | None = None
    domain_titles: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    # Lookups are cached on the (immutable) instance: the flag engine asks for items by id
    # hundreds of times per couple. cached_property writes to __dict__, which frozen allows.
    @cached_property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for section in self.sections for item in section.items)

    @cached_property
    def _by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}

    def item(self, item_id: str) -> Item:
        """The item with this id; KeyError if the instrument has none (a programming error)."""
        try:
            return self._by_id[item_id]
        except KeyError:
            raise KeyError(f"{self.id} v{self.version} has no item {item_id!r}") from None

    def has_item(self, item_id: str) -> bool:
        return item_id in self._by_id

    @cached_property
    def _by_domain(self) -> dict[str, tuple[Item, ...]]:
        grouped: dict[str, list[Item]] = {}
        for item in self.items:
            if item.domain:
                grouped.setdefault(item.domain, []).append(item)
        return {domain: tuple(items) for domain, items in grouped.items()}

    @property
    def domains(self) -> tuple[str, ...]:
        """Domain keys in the order they first appear, so score tables read like the form."""
        return tuple(self._by_domain)

    def domain_items(self, domain: str) -> tuple[Item, ...]:
        return self._by_domain.get(domain, ())

    @property
    def source_note(self) -> str:
        """Where the instrument comes from and on what terms: shown wherever it is used."""
        return f"{self.title}: {self.source} {self.licence}"

    def domain_title(self, domain: str) -> str:
        return self.domain_titles.get(domain) or domain.replace("_", " ").capitalize()


def validate_answer(item: Item, raw: object) -> AnswerValue | None:
    """Return the clean value for ``raw``, None when unanswered, or raise AnswerError.

    Accepts the string a form posts ("4") as well as the stored int, so one check serves both.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise AnswerError(item.id, f"expected a number or text, got {type(raw).__name__}")
    if item.kind == "text":
        return _clean_text(item, raw)
    if item.kind == "hours":
        return _clean_hours(item, raw)
    opt = item.option(raw.strip() if isinstance(raw, str) else raw)
    if opt is None:
        raise AnswerError(item.id, f"{raw!r} is not one of the allowed answers")
    return opt.value


def _clean_text(item: Item, raw: int | str) -> str:
    text = str(raw).strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise AnswerError(item.id, f"longer than {MAX_TEXT_LENGTH} characters")
    return text


def _clean_hours(item: Item, raw: int | str) -> int:
    try:
        value = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        raise AnswerError(item.id, f"{raw!r} is not a whole number of hours") from None
    low = 0 if item.min_value is None else item.min_value
    if value < low or (item.max_value is not None and value > item.max_value):
        raise AnswerError(item.id, f"{value} is outside {low}–{item.max_value} hours")
    return value


def validate_answers(
    instrument: Instrument, answers: Mapping[str, object]
) -> dict[str, AnswerValue]:
    """Clean every answer; unknown item ids are an error (they mean a version mix-up).

    Unanswered items are left out of the result, so ``item_id in result`` means "answered".
    """
    cleaned: dict[str, AnswerValue] = {}
    for item_id, raw in answers.items():
        if not instrument.has_item(item_id):
            raise AnswerError(item_id, f"not an item of {instrument.id} v{instrument.version}")
        value = validate_answer(instrument.item(item_id), raw)
        if value is not None:
            cleaned[item_id] = value
    return cleaned


def missing_required(instrument: Instrument, answers: Mapping[str, object]) -> list[str]:
    """Required item ids with no answer, in form order (so a page can jump to the first)."""
    return [
        item.id for item in instrument.items if item.required and _is_blank(answers.get(item.id))
    ]


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
