"""Staff forms for users and invites."""

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from phonebank.auth.services import MIN_PASSWORD_LENGTH
from phonebank.models import Role

ROLE_CHOICES = [SelectChoice(r.value, r.label) for r in Role]


class NewUserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.VOLUNTEER.value)
    phone = TelField("Phone (optional)", validators=[Optional(), Length(max=30)])
    password = PasswordField(
        "Temporary password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)]
    )


class EditUserForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    new_password = PasswordField(
        "Set a new password (optional)",
        validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
    )


class InviteForm(FlaskForm):
    role = SelectField("Joins as", choices=ROLE_CHOICES, default=Role.VOLUNTEER.value)
    campaign_id = SelectField("Campaign (optional)", coerce=int, default=0)
    expires_in_days = IntegerField(
        "Expires after (days)", validators=[Optional(), NumberRange(min=1, max=365)]
    )
    max_uses = IntegerField(
        "Number of sign-ups allowed (blank for no limit)",
        validators=[Optional(), NumberRange(min=1, max=100000)],
    )
    note = StringField("Note for yourself (optional)", validators=[Optional(), Length(max=200)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change something."""
