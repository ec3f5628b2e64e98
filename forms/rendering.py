"""Choices drawn fast: radio and checkbox groups, and the options of a select.

Iterating a RadioField builds, processes and renders a whole Field for every choice, and each
input or option's attributes go through ``html_params``, which formats every attribute as
Markup. The appointment page has about forty radio groups (two check-ins, homework outcomes,
flags) and the plan editor five selects of every strategy: that was nearly half of their
server time. The markup here is WTForms' own, attribute for attribute (tests/test_forms.py
compares the two in every state a page shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from wtforms import Field, SelectChoice
from wtforms.widgets import Select
from wtforms.widgets.core import clean_key

# The validation flags WTForms' RadioInput and CheckboxInput turn into attributes.
FLAG_ATTRIBUTES = ("required", "disabled")
QUOTE = '"'


@dataclass(frozen=True, slots=True)
class ChoiceInput:
    id: str
    input: Markup
    label: str


def choice_inputs(field: Field, **extra: Any) -> list[ChoiceInput]:
    """One input per choice of ``field`` (a RadioField or a list of checkboxes), with the
    attributes ``extra`` added to each, as ``for choice in field: choice(**extra)`` would."""
    # As DefaultMeta.render_field merges them: names cleaned first ("class_" is "class").
    common = {clean_key(k): v for k, v in {**(field.render_kw or {}), **extra}.items()}
    for flag in FLAG_ATTRIBUTES:
        value = getattr(field.flags, flag, False)
        if value and flag not in common:
            common[flag] = value() if callable(value) else value
    input_type = field.option_widget.input_type
    inputs = []
    for index, choice in enumerate(field.iter_choices()):
        choice_id = f"{field.id}-{index}"
        params = {
            "id": choice_id,
            "type": input_type,
            "value": str(choice.value),
            "name": field.name,
            **common,
        }
        if choice.selected:
            params.setdefault("checked", True)
        label = choice.label or choice.value
        # attributes() escapes every value.
        markup = Markup(f"<input {attributes(params)}>")  # noqa: S704  # nosec B704
        inputs.append(ChoiceInput(choice_id, markup, label))
    return inputs


class QuickSelect(Select):
    """WTForms' select widget with each option's attributes written by ``attributes``."""

    @classmethod
    def render_option(cls, choice: SelectChoice, **kwargs: Any) -> Markup:
        value = str(choice.value) if isinstance(choice.value, bool) else choice.value
        options = {"value": value, **(choice.render_kw or {}), **kwargs}
        if choice.selected:
            options["selected"] = True
        label = escape(choice.label or choice.value)
        # attributes() escapes every value, and label is escaped above.
        return Markup(f"<option {attributes(options)}>{label}</option>")  # noqa: S704  # nosec B704


def attributes(params: dict[str, Any]) -> str:
    """``wtforms.widgets.html_params``' output (sorted, escaped, True bare, False left out):
    safe to put in Markup, since every value is escaped (a quote inside a value that was
    already Markup too) and the names are the code's own."""
    parts = []
    for key, value in sorted(params.items()):
        if value is True:
            parts.append(clean_key(key))
        elif value is not False:
            parts.append(f'{clean_key(key)}="{str(escape(value)).replace(QUOTE, "&quot;")}"')
    return " ".join(parts)
