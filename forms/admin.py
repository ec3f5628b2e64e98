"""Forms of the practice owner's pages."""

from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Email, Length

from forms.base import BaseForm


class TherapistForm(BaseForm):
    name = StringField(
        "Full name", validators=[DataRequired("Enter the therapist's name."), Length(max=120)]
    )
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter the therapist's email address."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
    )
    is_admin = BooleanField(
        "Practice administrator",
        description="Can add and deactivate therapists. Leave unticked for most accounts.",
    )
