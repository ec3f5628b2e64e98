"""Entry forms generated from the instruments: one form class per section (page)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from wtforms import Field, IntegerField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import Optional, ValidationError

from counselor_app.forms.base import BaseForm, VersionField, strip_whitespace
from counselor_app.instruments import AnswerError, Item, Section, validate_answer

# Submit buttons and bookkeeping fields that are not answers.
CONTROL_FIELDS = frozenset({"csrf_token", "version", "action"})


def user_message(item: Item) -> str:
    if item.kind == "hours":
        high = item.max_value if item.max_value is not None else 168
        return f"Enter a whole number of hours from {item.min_value or 0} to {high}."
    if item.kind == "text":
        return "This answer is too long."
    return "Choose one of the answers shown."


class InstrumentAnswer:
    """Validate with the instrument's own rules, so the form and the data never disagree."""

    def __init__(self, item: Item) -> None:
        self.item = item

    def __call__(self, form: BaseForm, field: Field) -> None:
        raw = field.raw_data[0] if field.raw_data else None
        try:
            validate_answer(self.item, raw)
        except AnswerError as error:
            raise ValidationError(user_message(self.item)) from error


def _field(item: Item) -> Any:
    validators = [Optional(), InstrumentAnswer(item)]
    description = item.help or ("" if item.required else "Optional.")
    if item.kind in ("likert", "choice"):
        return RadioField(
            item.text,
            choices=[SelectChoice(str(option.value), option.label) for option in item.options],
            validators=validators,
            validate_choice=False,  # InstrumentAnswer checks the value against the instrument
            description=description,
        )
    if item.kind == "hours":
        return IntegerField(
            item.text,
            validators=validators,
            description=description or "Hours in a typical week.",
            render_kw={
                "min": item.min_value or 0,
                "max": item.max_value or 168,
                "inputmode": "numeric",
            },
        )
    return TextAreaField(
        item.text, validators=validators, description=description, render_kw={"rows": 4}
    )


class SectionForm(BaseForm):
    """Base of the generated section forms."""

    item_ids: tuple[str, ...] = ()
    items: tuple[Item, ...] = ()
    version = VersionField()

    def answers(self) -> dict[str, Any]:
        """item id -> clean value (None: cleared) for the questions the page sent.

        A question missing from the post is left as it was: browsers omit a radio group with
        nothing chosen, and a partial post must not wipe answers it never showed.
        """
        return {
            item.id: validate_answer(item, strip_whitespace(self[item.id].raw_data[0]))
            for item in self.items
            if self[item.id].raw_data
        }

    def unexpected_keys(self, keys: Iterable[str]) -> list[str]:
        """Posted names this page does not have: a tampered form or an instrument mix-up."""
        allowed = CONTROL_FIELDS | set(self.item_ids)
        return sorted(key for key in keys if key not in allowed)

    def fill(self, values: dict[str, Any]) -> None:
        for item_id in self.item_ids:
            value = values.get(item_id)
            self[item_id].data = (
                value
                if self[item_id].type == "IntegerField"
                else (None if value is None else str(value))
            )

    def item_fields(self) -> list[Field]:
        return [self[item_id] for item_id in self.item_ids]


@cache
def section_form_class(instrument_id: str, version: int, section: Section) -> type[SectionForm]:
    """One form class per section of an instrument version, built once and reused."""
    attributes: dict[str, Any] = {item.id: _field(item) for item in section.items}
    attributes["item_ids"] = tuple(item.id for item in section.items)
    attributes["items"] = section.items
    return type(f"{instrument_id}_{version}_{section.key}_form", (SectionForm,), attributes)
