"""Forms of the practice owner's pages."""

from wtforms import BooleanField, EmailField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length

from counselor_app.forms.base import BaseForm, VersionField
from counselor_app.models import PaperSize


class TherapistForm(BaseForm):
    """A colleague's account: their name and email, not the administrator's. Autofill would
    offer the administrator's own (no HTML token names someone else's), so it is off. The
    account's password is generated, never typed."""

    name = StringField(
        "Full name",
        validators=[DataRequired("Enter the therapist's name."), Length(max=120)],
        render_kw={"autocomplete": "off"},
    )
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter the therapist's email address."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
        render_kw={"autocomplete": "off"},
    )
    is_admin = BooleanField(
        "Practice administrator",
        description="Can add and deactivate therapists. Leave unticked for most accounts.",
    )


class PracticeForm(BaseForm):
    name = StringField(
        "Practice name",
        validators=[Length(max=120)],
        description="Shown in the header of every document.",
        # The administrator's own organisation (WCAG 1.3.5).
        render_kw={"autocomplete": "organization"},
    )
    contact_line = StringField(
        "How partners reach the practice",
        validators=[Length(max=200)],
        description="A phone number or address, shown on partners' own pages and slips.",
    )
    crisis_line = StringField(
        "Where to turn in an emergency",
        validators=[Length(max=200)],
        description='Shown beside the private safety questions, e.g. "Call 911, or the '
        'National Domestic Violence Hotline: 1-800-799-7233". Left empty, partners are told '
        "to call their local emergency number.",
    )
    paper_size = RadioField(
        "Paper size for documents",
        choices=[SelectChoice(size.value, size.label) for size in PaperSize],
        validators=[InputRequired("Choose a paper size.")],
    )
    version = VersionField()
