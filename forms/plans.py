"""The session plan form, and the strategy form of the library pages."""

from __future__ import annotations

from wtforms import (
    DateField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from counselor_app.forms.base import BaseForm, SubForm, VersionField
from counselor_app.forms.rendering import QuickSelect
from counselor_app.plans.services import AGENDA_PARTS

HOMEWORK_ROWS = 5
MAX_HOMEWORK_ROWS = 8  # a handout with more assignments than this helps nobody


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes: easier than a multi-select to use with a keyboard or a finger."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AgendaPartForm(SubForm):
    part = HiddenField()
    minutes = IntegerField(
        "Minutes",
        validators=[
            InputRequired("Enter the minutes (0 to leave this part out)."),
            NumberRange(0, 180, "Enter between 0 and 180 minutes."),
        ],
    )
    notes = StringField("Notes", validators=[Optional(), Length(max=300)])


HANDOUT_NOTE = "Printed on the couple's handout exactly as written."


class HomeworkForm(SubForm):
    strategy_key = SelectField("From strategy", validate_choice=True, widget=QuickSelect())
    text = TextAreaField(
        "Assignment", validators=[Optional(), Length(max=1000)], description=HANDOUT_NOTE
    )


class PlanForm(BaseForm):
    session_date = DateField("Session date", validators=[InputRequired("Enter the session date.")])
    focus_flags = MultiCheckboxField(
        "Focus for this session", coerce=int, description="Confirmed flags, most severe first."
    )
    goals = TextAreaField(
        "Goals",
        validators=[Optional(), Length(max=4000)],
        description="What you want from this session. In the plan only, never in the handout.",
    )
    agenda = FieldList(FormField(AgendaPartForm), min_entries=len(AGENDA_PARTS))
    strategies = MultiCheckboxField(
        "Interventions",
        description=(
            "Suggested ones (from the focus flags) are listed first. Each one's couple-facing "
            "text (title, explanation, steps, questions) goes on the handout."
        ),
    )
    homework = FieldList(
        FormField(HomeworkForm), min_entries=HOMEWORK_ROWS, max_entries=MAX_HOMEWORK_ROWS
    )
    private_notes = TextAreaField(
        "Private notes",
        validators=[Optional(), Length(max=8000)],
        description="For you only: in the session plan, never in the handout.",
    )

    def validate_agenda(self, field: FieldList) -> None:
        parts = [entry.form.part.data for entry in field.entries]
        if parts != [key for key, _, _ in AGENDA_PARTS]:
            raise ValidationError("The agenda was not sent as the page showed it. Reload the page.")

    def set_choices(self, flags: list[tuple[int, str]], strategies: list[tuple[str, str]]) -> None:
        """Choices depend on the couple and the therapist's library, so they are set per request."""
        self.focus_flags.choices = [SelectChoice(value, label) for value, label in flags]
        self.strategies.choices = [SelectChoice(value, label) for value, label in strategies]
        for entry in self.homework.entries:
            entry.form.strategy_key.choices = [
                SelectChoice("", "Your own assignment"),
                *(SelectChoice(value, label) for value, label in strategies),
            ]
        # Each row's minutes by its part, as the page's hidden label says: the error summary
        # lists "Minutes for Check-in: ...", not five alike "Minutes: ..." lines.
        labels = {key: label for key, label, _ in AGENDA_PARTS}
        for entry in self.agenda.entries:
            part = labels.get(entry.form.part.data)
            if part:
                entry.form.minutes.label.text = f"Minutes for {part}"


class PlanEditForm(PlanForm):
    version = VersionField()


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class StrategyForm(BaseForm):
    """A strategy's text: the therapist's wording of a shipped one, or one of their own."""

    title = StringField(
        "Title",
        validators=[DataRequired("Give the strategy a title."), Length(max=160)],
        description=HANDOUT_NOTE,
    )
    challenges = MultiCheckboxField("Challenges it addresses")
    minutes = IntegerField(
        "Minutes in session",
        validators=[
            InputRequired("Enter how many minutes it takes."),
            NumberRange(1, 120, "Enter between 1 and 120 minutes."),
        ],
    )
    therapist_guidance = TextAreaField(
        "How to run it (for you)",
        validators=[DataRequired("Describe how to run it."), Length(max=4000)],
        description="For you only: in session plans, never on a handout.",
    )
    client_explanation = TextAreaField(
        "What it is, for the couple",
        validators=[DataRequired("Explain it in plain words for the couple."), Length(max=2000)],
        description=HANDOUT_NOTE + " Plain language, addressed to the couple.",
    )
    steps = TextAreaField(
        "Steps for the couple",
        validators=[DataRequired("Give at least one step."), Length(max=3000)],
        description="One step per line. " + HANDOUT_NOTE,
    )
    homework = TextAreaField(
        "Homework template",
        validators=[DataRequired("Write the homework as it should appear."), Length(max=1000)],
        description=HANDOUT_NOTE,
    )
    reflection_questions = TextAreaField(
        "Reflection questions",
        validators=[DataRequired("Give at least one question."), Length(max=2000)],
        description="One question per line. " + HANDOUT_NOTE,
    )
    version = VersionField()

    def step_list(self) -> tuple[str, ...]:
        return tuple(_lines(self.steps.data))

    def question_list(self) -> tuple[str, ...]:
        return tuple(_lines(self.reflection_questions.data))


class RestoreWordingForm(BaseForm):
    """Back to the shipped wording: refused if the wording changed since the page showed it
    (restoring would throw away text the therapist never saw)."""

    version = VersionField()
