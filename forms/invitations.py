"""Forms of the invitations a therapist sends partners to answer on their own device."""

from __future__ import annotations

from wtforms import HiddenField, IntegerField, RadioField, SelectChoice, SelectField
from wtforms.validators import InputRequired, Length, NumberRange

from counselor_app.forms.base import BaseForm, VersionField
from counselor_app.forms.rendering import QuickSelect
from counselor_app.models import InvitationPurpose

VALID_DAYS = "Enter a number of days from 1 to 30."


class InvitationForm(BaseForm):
    partner = RadioField("Who answers", validators=[InputRequired("Choose a partner.")])
    purpose = RadioField(
        "What they answer",
        choices=[
            SelectChoice(
                InvitationPurpose.INTAKE.value,
                "Intake: the questionnaire, the satisfaction scale and the private safety screen",
            ),
            SelectChoice(
                InvitationPurpose.CHECK_IN.value, "Check-in: the two short check-in measures"
            ),
        ],
        default=InvitationPurpose.INTAKE.value,
        validators=[InputRequired("Choose what they answer.")],
    )
    appointment_id = SelectField(
        "Check-in for",
        coerce=int,
        default=0,
        widget=QuickSelect(),
        description="For a check-in only: the appointment it is for, or the day they answer.",
    )
    valid_days = IntegerField(
        "Link works for (days)",
        validators=[InputRequired(VALID_DAYS), NumberRange(1, 30, VALID_DAYS)],
        render_kw={"inputmode": "numeric", "min": 1, "max": 30},
    )

    def set_choices(self, partners: list[tuple[str, str]], appointments: list[tuple[int, str]]):
        """``partners``: (label, name); ``appointments``: (id, when) of upcoming ones."""
        self.partner.choices = [SelectChoice(label, name) for label, name in partners]
        self.appointment_id.choices = [
            SelectChoice(0, "No appointment: the day they answer (between sessions)"),
            *(SelectChoice(value, text) for value, text in appointments),
        ]


class ReissueForm(BaseForm):
    version = VersionField()
    valid_days = IntegerField(
        "Link works for (days)",
        validators=[InputRequired(VALID_DAYS), NumberRange(1, 30, VALID_DAYS)],
    )


class RevokeForm(BaseForm):
    version = VersionField()


class DeliveryForm(BaseForm):
    """Printing or emailing a link just made: the page sends the token back (it is stored
    nowhere in clear), and the server checks it is this invitation's current one."""

    token = HiddenField(validators=[InputRequired(), Length(max=100)])
