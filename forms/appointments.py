"""Forms of the appointment page: details, check-ins, homework review, flags, notes."""

from __future__ import annotations

from functools import cache
from typing import Any

from wtforms import (
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from counselor_app.forms.base import BaseForm, VersionField
from counselor_app.forms.intake import InstrumentAnswer
from counselor_app.forms.rendering import QuickSelect
from counselor_app.instruments import Instrument, validate_answer
from counselor_app.models import AppointmentStatus, FlagProgress, HomeworkOutcome

ATTENDANCE_CHOICES = [
    SelectChoice("both", "Both partners"),
    SelectChoice("a", "Only partner A"),
    SelectChoice("b", "Only partner B"),
]


class AppointmentForm(BaseForm):
    starts_at = DateTimeLocalField(
        "Date and time",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Enter the date and time.")],
    )
    duration_minutes = IntegerField(
        "Length (minutes)",
        default=60,
        validators=[
            InputRequired("Enter the length in minutes."),
            NumberRange(10, 240, "Enter between 10 and 240 minutes."),
        ],
    )
    status = RadioField(
        "Status",
        choices=[SelectChoice(s.value, s.label) for s in AppointmentStatus],
        default=AppointmentStatus.SCHEDULED.value,
        validators=[InputRequired("Choose a status.")],
    )
    attendance = RadioField(
        "Who attended",
        choices=ATTENDANCE_CHOICES,
        validators=[Optional()],
        description="For a completed appointment only.",
    )
    plan_id = SelectField(
        "Session plan used", coerce=int, validate_choice=True, widget=QuickSelect()
    )

    def set_plans(self, plans: list[tuple[int, str]]) -> None:
        self.plan_id.choices = [SelectChoice(0, "None"), *(SelectChoice(v, t) for v, t in plans)]


class AppointmentEditForm(AppointmentForm):
    version = VersionField()


class CheckInForm(BaseForm):
    """One partner's CSI-4 and Balance check-in, fields generated from the instruments."""

    instruments: tuple[Instrument, ...] = ()

    def answers(self) -> dict[str, dict[str, Any]]:
        return {
            instrument.id: {
                item.id: validate_answer(item, self[item.id].data) for item in instrument.items
            }
            for instrument in self.instruments
        }

    def groups(self) -> list[tuple[Instrument, list[Any]]]:
        return [(i, [self[item.id] for item in i.items]) for i in self.instruments]


class AppointmentCheckInForm(CheckInForm):
    """The therapist's, on the appointment page: saved against the version the page showed
    (a partner's own page is guarded by their link, which one Send uses up)."""

    version = VersionField()


@cache
def check_in_form_class(
    instruments: tuple[Instrument, ...], base: type[CheckInForm] = CheckInForm
) -> type[CheckInForm]:
    """Every item required: a check-in is short, and a partial one would give no total."""
    attributes: dict[str, Any] = {"instruments": instruments}
    for instrument in instruments:
        for item in instrument.items:
            attributes[item.id] = RadioField(
                item.text,
                choices=[SelectChoice(str(o.value), o.label) for o in item.options],
                validators=[InputRequired("Choose an answer."), InstrumentAnswer(item)],
                validate_choice=False,
            )
    return type("CheckInFormGenerated", (base,), attributes)


OUTCOME_CHOICES = [SelectChoice("", "Not recorded")] + [
    SelectChoice(o.value, o.label) for o in HomeworkOutcome
]
PROGRESS_CHOICES = [SelectChoice("", "Not recorded")] + [
    SelectChoice(p.value, p.label) for p in FlagProgress
]


class HomeworkReviewForm(BaseForm):
    """Fields are added per assignment and partner: outcome-<index>-<A|B>, note-<index>-<A|B>."""

    version = VersionField()


def homework_review_form(items: list[Any], names: dict[str, str]) -> HomeworkReviewForm:
    """``names``: partner label -> display name, for the labels the therapist reads."""
    attributes: dict[str, Any] = {}
    for item in items:
        for label, name in names.items():
            attributes[f"outcome-{item.index}-{label}"] = RadioField(
                name, choices=OUTCOME_CHOICES, default="", validators=[Optional()]
            )
            attributes[f"note-{item.index}-{label}"] = StringField(
                f"Note about {name} (optional)", validators=[Optional(), Length(max=500)]
            )
    return type("HomeworkReviewFormGenerated", (HomeworkReviewForm,), attributes)()


class FlagStatusForm(BaseForm):
    """A radio group per confirmed flag: flag-<id>."""

    version = VersionField()


def flag_status_form(flags: list[tuple[int, str]]) -> FlagStatusForm:
    attributes = {
        f"flag-{flag_id}": RadioField(
            title, choices=PROGRESS_CHOICES, default="", validators=[Optional()]
        )
        for flag_id, title in flags
    }
    return type("FlagStatusFormGenerated", (FlagStatusForm,), attributes)()


class NoteForm(BaseForm):
    # Not "data", "assessment" and "plan": a WTForms form already has a .data attribute.
    dap_data = TextAreaField(
        "Data",
        validators=[Optional(), Length(max=20000)],
        description="What was said and observed in the session.",
    )
    dap_assessment = TextAreaField(
        "Assessment",
        validators=[Optional(), Length(max=20000)],
        description="Your clinical reading of it.",
    )
    dap_plan = TextAreaField(
        "Plan",
        validators=[Optional(), Length(max=20000)],
        description="What comes next: homework, focus, referrals.",
    )
    version = VersionField()


class AddendumForm(BaseForm):
    text = TextAreaField(
        "Addendum",
        validators=[InputRequired("Write the addendum."), Length(max=10000)],
        description="Dated and added below the signed note, which stays as it was.",
    )


class PrivateNoteForm(BaseForm):
    text = TextAreaField(
        "Private notes (psychotherapy notes)",
        validators=[Optional(), Length(max=20000)],
        description="Kept apart from the record: never in an export, report or handout.",
    )
    version = VersionField()
