"""The couple form: relationship details and both partners in one page."""

from wtforms import (
    EmailField,
    FormField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from counselor_app.forms.base import BaseForm, SubForm, VersionField
from counselor_app.forms.rendering import QuickSelect
from counselor_app.models import RelationshipStage

STAGE_CHOICES = [SelectChoice(stage.value, stage.label) for stage in RelationshipStage]
# Clients' names and emails, never the therapist's own: a browser's autofill would offer the
# therapist's name (HTML has no token for someone else's), and its form history would keep
# clients' names for anyone at this browser to see. WCAG 1.3.5 asks for tokens only on the
# user's own data.
CLIENT_DATA = {"autocomplete": "off"}


class PartnerForm(SubForm):
    display_name = StringField(
        "Name",
        validators=[DataRequired("Enter a name for this partner."), Length(max=80)],
        description="The name used in session and on handouts.",
        render_kw=CLIENT_DATA,
    )
    pronouns = StringField(
        "Pronouns", validators=[Optional(), Length(max=40)], render_kw=CLIENT_DATA
    )
    email = EmailField(
        "Email (optional)",
        validators=[Optional(), Email("Enter a valid email address."), Length(max=254)],
        render_kw=CLIENT_DATA,
    )


class CoupleForm(BaseForm):
    partner_a = FormField(PartnerForm, label="Partner A")
    partner_b = FormField(PartnerForm, label="Partner B")
    relationship_stage = RadioField(
        "Relationship stage",
        choices=STAGE_CHOICES,
        validators=[InputRequired("Choose the relationship stage.")],
    )
    length_years = IntegerField(
        "Years together",
        validators=[Optional(), NumberRange(0, 80, "Enter a number of years from 0 to 80.")],
    )
    length_months = IntegerField(
        "and months",
        validators=[Optional(), NumberRange(0, 11, "Enter a number of months from 0 to 11.")],
    )
    presenting_concerns = TextAreaField(
        "Presenting concerns",
        validators=[Optional(), Length(max=5000)],
        description="In the couple's words where possible. Visible to you only.",
    )

    def relationship_length_months(self) -> int | None:
        if self.length_years.data is None and self.length_months.data is None:
            return None
        return (self.length_years.data or 0) * 12 + (self.length_months.data or 0)


class CoupleEditForm(CoupleForm):
    # The version the page was built from; a save against a newer version is a conflict.
    version = VersionField()


class EraseCoupleForm(BaseForm):
    confirm_name = StringField(
        "Type the couple's name, exactly as shown above, to confirm",
        validators=[DataRequired("Type the couple's name to confirm.")],
        render_kw=CLIENT_DATA,
    )


class SearchForm(BaseForm):
    """The dashboard search. Sent by POST and kept in the session, so partner names never
    appear in a URL (and so never in an access log or the browser's history)."""

    q = StringField("Partner name", validators=[Optional(), Length(max=80)], render_kw=CLIENT_DATA)
    status = SelectField(
        "Status",
        widget=QuickSelect(),
        choices=[
            SelectChoice("active", "Active"),
            SelectChoice("closed", "Closed"),
            SelectChoice("all", "All"),
        ],
    )
