"""The base form every page form derives from."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import g
from flask_wtf import FlaskForm
from wtforms import Field, FieldList, Form, FormField, IntegerField, PasswordField, StringField
from wtforms.validators import InputRequired, NumberRange
from wtforms.widgets import HiddenInput


def strip_whitespace(value: Any) -> Any:
    """Trim, and drop NUL characters, which no one types and PostgreSQL cannot store."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else value


class StrippingMeta:
    """Trim surrounding spaces from every text field, so ' Sam ' and 'Sam' are one name."""

    def bind_field(self, form: Form, unbound_field: Any, options: dict[str, Any]) -> Any:
        field_class = unbound_field.field_class
        # Spaces at either end of a password are part of it, so passwords are left alone.
        if issubclass(field_class, StringField) and not issubclass(field_class, PasswordField):
            # Passed to this binding only: the class's field definition is shared by every
            # form built from it, so changing it would add a filter per form ever built.
            filters = [strip_whitespace, *unbound_field.kwargs.get("filters", [])]
            return unbound_field.bind(form=form, filters=filters, **options)
        return unbound_field.bind(form=form, **options)


@dataclass(frozen=True)
class Problem:
    """One line of a form's error summary: ``target`` is the id of the control it is about (the
    summary links to it), None for a problem of the whole form (a stale page, say)."""

    message: str
    target: str | None = None


# Fields drawn as one input per choice (forms/rendering.py): a link goes to the first input.
CHOICE_GROUPS = frozenset({"RadioField", "MultiCheckboxField"})


def _fields(fields: Any) -> Iterator[Field]:
    """Every field of ``fields``, those of nested forms and lists included, in page order; a
    list comes itself before its rows (for its own errors)."""
    for field in fields:
        if isinstance(field, FormField):
            yield from _fields(field.form)
        elif isinstance(field, FieldList):
            yield field  # for the list's own errors (its rows' are theirs)
            yield from _fields(field.entries)
        else:
            yield field


def _target(field: Field) -> str:
    if field.type in CHOICE_GROUPS and field.choices:
        return f"{field.id}-0"
    return field.id


class BaseForm(FlaskForm):
    """A CSRF-protected form (Flask-WTF) with whitespace trimming."""

    class Meta(StrippingMeta, FlaskForm.Meta):
        pass

    @property
    def summary_id(self) -> str:
        """The id of the error summary's heading. A form on a long page posts to it (``action=
        "…#{{ form.summary_id }}"``): refused, its page comes back there, the heading focused
        by the browser itself, as a link's target is (the id exists only on a refused form)."""
        return f"{self._prefix}errors"

    def problems(self) -> list[Problem]:
        """What the error summary lists: the form's own problems (and those of its hidden
        fields: the CSRF token, the version), then each field's, linked to the field."""
        general: list[str] = list(self.form_errors)
        linked: list[Problem] = []
        for field in _fields(self):
            if not field.errors:
                continue
            if isinstance(field, FieldList):
                # Its rows' errors are lists of their own; a plain message is the list's (an
                # agenda sent otherwise than the page showed it), about no one field.
                general += [e for e in field.errors if isinstance(e, str) and e not in general]
            elif isinstance(field.widget, HiddenInput):
                general += [error for error in field.errors if error not in general]
            else:
                message = f"{field.label.text}: {' '.join(field.errors)}"
                linked.append(Problem(message, _target(field)))
        return [Problem(message) for message in general] + linked

    def nothing_was_lost(self) -> bool:
        """Whether the summary may say nothing typed was lost: only when every problem is a
        field's (a stale page's or token's message says itself what became of the input), and
        never on a form with a password, which comes back empty."""
        if any(problem.target is None for problem in self.problems()):
            return False
        return not any(field.type == "PasswordField" for field in _fields(self))


class SubForm(Form):
    """A nested form (FormField): the enclosing BaseForm carries the CSRF token."""

    class Meta(StrippingMeta, Form.Meta):
        pass


class ActionForm(BaseForm):
    """A button-only form (close, reopen, deactivate, sign out): just the CSRF token."""


STALE_PAGE = "This page is out of date or incomplete. Reload it, then make your change again."


class VersionField(IntegerField):
    """The version of the record the page was built from, for optimistic concurrency."""

    widget = HiddenInput()

    def __init__(self, label: str = "", **kwargs: Any) -> None:
        validators = [InputRequired(STALE_PAGE), NumberRange(0, 2**31 - 1, STALE_PAGE)]
        super().__init__(label, validators=validators, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(STALE_PAGE) from None

    def refresh(self, version: int) -> None:
        """After a conflict, let the next save be made against the version now on record."""
        self.data = version
        self.raw_data = [str(version)]


# Fields that say nothing about what was typed, so they cannot tell whose draft it is.
BOOKKEEPING_FIELDS = frozenset({"CSRFTokenField", "VersionField", "SubmitField"})


def restore_draft(form: Form) -> bool:
    """Fill ``form`` with what was typed before the session ran out, if this page kept it
    (auth.views.restore_form_draft) and it was this form's (its fields are in the draft)."""
    restored = g.get("restored_form")
    if restored is None:
        return False
    if not any(field.name in restored for field in form if field.type not in BOOKKEEPING_FIELDS):
        return False
    form.process(formdata=restored)
    return True
