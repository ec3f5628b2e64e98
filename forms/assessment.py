"""Forms of the assessment page: flag decisions, flags added by hand, the safety decision."""

from __future__ import annotations

from wtforms import RadioField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, StopValidation

from counselor_app.flags import CHALLENGES
from counselor_app.forms.base import BaseForm, VersionField
from counselor_app.forms.rendering import QuickSelect
from counselor_app.models import SafetyDecision, Severity

SEVERITY_CHOICES = [SelectChoice(s.value, s.value.capitalize()) for s in Severity]
PARTNER_CHOICES = [
    SelectChoice("AB", "Both partners"),
    SelectChoice("A", "Partner A"),
    SelectChoice("B", "Partner B"),
]


class ConfirmFlagForm(BaseForm):
    note = TextAreaField(
        "Note (optional)",
        validators=[Optional(), Length(max=4000)],
        render_kw={"rows": 2},
    )
    version = VersionField()


class DismissFlagForm(BaseForm):
    reason = TextAreaField(
        "Reason for dismissing",
        validators=[DataRequired("Give a reason for dismissing this flag."), Length(max=4000)],
        render_kw={"rows": 2},
    )
    version = VersionField()


class ResetFlagForm(BaseForm):
    version = VersionField()


class AddFlagForm(BaseForm):
    challenge_key = SelectField(
        "Challenge",
        widget=QuickSelect(),
        choices=[SelectChoice("", "Choose a challenge")]
        + [SelectChoice(key, title) for key, (title, _) in CHALLENGES.items()],
        validators=[DataRequired("Choose a challenge.")],
    )
    severity = RadioField(
        "Severity", choices=SEVERITY_CHOICES, validators=[InputRequired("Choose a severity.")]
    )
    partners = RadioField(
        "Who it concerns",
        choices=PARTNER_CHOICES,
        default="AB",
        validators=[InputRequired("Choose who it concerns.")],
    )
    note = TextAreaField(
        "What you observed",
        validators=[DataRequired("Say briefly what you observed."), Length(max=4000)],
        render_kw={"rows": 3},
    )


class SafetyDecisionForm(BaseForm):
    decision = RadioField(
        "Your decision",
        choices=[SelectChoice(d.value, d.label) for d in SafetyDecision],
        validators=[InputRequired("Choose a decision.")],
        description="Only the first lets handouts for the couple be made, with the safety plan "
        "noted below; the others keep them held.",
    )
    note = TextAreaField(
        "Safety plan or reasoning",
        validators=[Length(max=4000)],
        render_kw={"rows": 3},
    )
    version = VersionField()

    def validate_note(self, field: TextAreaField) -> None:
        """Always a note; for joint work to continue, it is the safety plan, named as such."""
        if (field.data or "").strip():
            return
        if self.decision.data == SafetyDecision.JOINT_WORK_CAN_CONTINUE.value:
            raise StopValidation("Note the safety plan that lets joint work continue.")
        raise StopValidation("Record the plan or reasoning behind the decision.")


class SafetyNoticeForm(BaseForm):
    """Marking a partner's private safety note as read: a button, and the notice's version."""

    version = VersionField()
