"""The base form every page form derives from."""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import Form, PasswordField, StringField


def strip_whitespace(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class StrippingMeta:
    """Trim surrounding spaces from every text field, so ' Sam ' and 'Sam' are one name."""

    def bind_field(self, form: Form, unbound_field: Any, options: dict[str, Any]) -> Any:
        field_class = unbound_field.field_class
        # Spaces at either end of a password are part of it, so passwords are left alone.
        if issubclass(field_class, StringField) and not issubclass(field_class, PasswordField):
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
