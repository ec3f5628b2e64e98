"""Sign-in and password forms.

Their ``autocomplete`` tokens (WCAG 1.3.5) let a browser fill the user's own email and let a
password manager tell the saved password from a new one.
"""

from typing import Any

from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from counselor_app.auth.services import MAX_PASSWORD_LENGTH, password_problem
from counselor_app.forms.base import BaseForm


class LoginForm(BaseForm):
    email = EmailField(
        "Email",
        validators=[DataRequired("Enter your email address.")],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangePasswordForm(BaseForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password.")],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "New password",
        validators=[DataRequired("Choose a new password.")],
        description=(
            "At least 12 characters, and not your name, your email or a word like "
            '"counselor" with numbers added. A passphrase of several unrelated words works well.'
        ),
        render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[
            DataRequired("Repeat the new password."),
            EqualTo("new_password", "The two passwords do not match."),
        ],
        render_kw={"autocomplete": "new-password"},
    )

    def __init__(self, *args: Any, personal: tuple[str, ...] = (), **kwargs: Any) -> None:
        """``personal``: the account's name, email and practice name, which a new password must
        not be made of (auth.services.account_inputs)."""
        super().__init__(*args, **kwargs)
        self.personal = personal

    def validate_new_password(self, field: PasswordField) -> None:
        if problem := password_problem(field.data or "", personal=self.personal):
            raise ValidationError(problem)
