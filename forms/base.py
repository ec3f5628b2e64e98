"""The base form every page form derives from."""

from typing import Any

from flask import g
from flask_wtf import FlaskForm
from wtforms import Form, IntegerField, PasswordField, StringField
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


class BaseForm(FlaskForm):
    """A CSRF-protected form (Flask-WTF) with whitespace trimming."""

    class Meta(StrippingMeta, FlaskForm.Meta):
        pass


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
