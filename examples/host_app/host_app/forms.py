"""The host's own form classes.

Deliberately a plain ``forms`` module: counselor_app's forms live inside its own package
(``counselor_app.forms``), so a host's ``forms`` never shadows them, nor they it.
"""

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired()])


class ClientForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email (optional)", validators=[Optional(), Email(), Length(max=254)])


class AppointmentForm(FlaskForm):
    # Choices are filled by the view from the database (coerce=int turns the posted ids back).
    client_id = SelectField("Client", coerce=int, validators=[DataRequired()])
    clinician_id = SelectField("Clinician", coerce=int, validators=[DataRequired()])
    starts_at = DateTimeLocalField("Starts at", validators=[DataRequired()])
