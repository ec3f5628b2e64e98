"""The base form every page form derives from."""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import Form


def strip_whitespace(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class StrippingMeta:
    """Trim surrounding spaces from every text field, so ' Sam ' and 'Sam' are one name."""

    def bind_field(self, form: Form, unbound_field: Any, options: dict[str, Any]) -> Any:
        filters = unbound_field.kwargs.get("filters", [])
        unbound_field.kwargs["filters"] = [strip_whitespace, *filters]
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
