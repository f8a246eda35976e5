"""Staff forms for campaigns: settings, survey questions, outcomes, members and the call list."""

from __future__ import annotations

from datetime import time
from itertools import permutations

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    URL,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from phonebank.campaigns.services import (
    OUTCOME_PERSON_FLAGS,
    PHONE_REASONS,
    PHONE_TYPES,
    unknown_merge_fields,
)
from phonebank.models import CampaignStatus, DialingMode, OutcomeBucket, QuestionKind
from phonebank.supporters.services import SupporterError, normalize_phone

TIME_FORMATS = ["%H:%M", "%H:%M:%S"]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

STATUS_HELP = {
    "draft": "Draft: being prepared; volunteers cannot call yet.",
    "active": "Active: members can call now.",
    "paused": "Paused: nobody can call until it is active again.",
    "finished": "Finished: closed for good; results stay.",
}
DIALING_HELP = {
    "power": "Power: the next voter is dialed as soon as the volunteer is ready (fastest).",
    "preview": "Preview: the volunteer reads the voter's record first, then clicks Call.",
    "manual": (
        "Manual: the volunteer dials from their own phone; the number is shown to them "
        "and they record the outcome here."
    ),
}
BUCKET_LABELS = {
    "contact": "Contact",
    "retry": "Retry later",
    "bad_number": "Number bad",
    "never": "Never call",
}

STATUS_CHOICES = [SelectChoice(s.value, s.value.capitalize()) for s in CampaignStatus]
DIALING_CHOICES = [SelectChoice(m.value, DIALING_HELP[m.value]) for m in DialingMode]
KIND_CHOICES = [
    SelectChoice(QuestionKind.SINGLE.value, "Single choice (one answer)"),
    SelectChoice(QuestionKind.MULTIPLE.value, "Multiple choice (tick any)"),
    SelectChoice(QuestionKind.TEXT.value, "Free text"),
]
BUCKET_CHOICES = [SelectChoice(b.value, BUCKET_LABELS[b.value]) for b in OutcomeBucket]
EFFECT_CHOICES = (
    [SelectChoice("", "—")]
    + [
        SelectChoice(f"phone:{code}", label, optgroup="Marks the phone bad")
        for code, label in PHONE_REASONS.items()
    ]
    + [
        SelectChoice(f"person:{code}", label, optgroup="Flags the person")
        for code, label in OUTCOME_PERSON_FLAGS.items()
    ]
)
# The orders staff pick from; any order of all four types is valid (validate_settings).
SUGGESTED_PHONE_ORDERS = [
    "mobile,home,work,unknown",
    "home,mobile,work,unknown",
    "mobile,work,home,unknown",
    "home,work,mobile,unknown",
    "work,mobile,home,unknown",
    "unknown,mobile,home,work",
]


def phone_order_label(order: str) -> str:
    return " → ".join(part.capitalize() for part in order.split(","))


def phone_order_choices(current: str | None = None) -> list[SelectChoice]:
    orders = list(SUGGESTED_PHONE_ORDERS)
    if current and current not in orders and sorted(current.split(",")) == sorted(PHONE_TYPES):
        orders.append(current)
    return [SelectChoice(order, phone_order_label(order)) for order in orders]


ALL_PHONE_ORDERS = {",".join(p) for p in permutations(PHONE_TYPES)}


def minutes_to_time(minutes: int | None) -> time | None:
    if minutes is None:
        return None
    return time((minutes // 60) % 24, minutes % 60)


def time_to_minutes(value: time | None, *, end: bool = False) -> int | None:
    """Minutes after midnight; as the end of a window, 00:00 means midnight (24:00)."""
    if value is None:
        return None
    minutes = value.hour * 60 + value.minute
    return 24 * 60 if end and minutes == 0 else minutes


class WeekdayForm(Form):
    """One weekday's row: the main window, its own hours, or no calls at all."""

    mode = SelectField(
        "Calls",
        choices=[
            SelectChoice("main", "Main window"),
            SelectChoice("custom", "Own hours"),
            SelectChoice("none", "No calls"),
        ],
        default="main",
    )
    start = TimeField("From", format=TIME_FORMATS, validators=[Optional()])
    end = TimeField("To", format=TIME_FORMATS, validators=[Optional()])

    def validate_mode(self, field):
        # On the mode, not the times: an empty time stops its own validators (Optional).
        if field.data != "custom":
            return
        if self.start.data is None or self.end.data is None:
            raise ValidationError("Give both times for this day's own hours.")
        if time_to_minutes(self.end.data, end=True) <= time_to_minutes(self.start.data):
            raise ValidationError("This day's hours must end after they start.")


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description (optional)", validators=[Optional(), Length(max=2000)])
    status = SelectField("Status", choices=STATUS_CHOICES, default=CampaignStatus.DRAFT.value)
    dialing_mode = RadioField(
        "Dialing mode", choices=DIALING_CHOICES, default=DialingMode.PREVIEW.value
    )
    caller_id = StringField(
        "Caller ID (optional)",
        validators=[Optional(), Length(max=40)],
        description=(
            "The number voters see and can call back: a real number you own. "
            "Saved in international form; blank uses the server's default."
        ),
    )
    window_start = TimeField("Calls from", format=TIME_FORMATS, validators=[InputRequired()])
    window_end = TimeField("Calls until", format=TIME_FORMATS, validators=[InputRequired()])
    weekdays = FieldList(FormField(WeekdayForm), min_entries=7, max_entries=7)
    max_attempts = IntegerField(
        "Attempts per person",
        validators=[InputRequired(), NumberRange(min=1, max=20)],
        description="Calls to one person at most, before they leave the queue.",
    )
    phone_order = SelectField(
        "Which phone to try first",
        choices=phone_order_choices(),
        default=SUGGESTED_PHONE_ORDERS[0],
        validate_choice=False,
    )
    voicemail_text = TextAreaField(
        "Voicemail message, read aloud (optional)", validators=[Optional(), Length(max=2000)]
    )
    voicemail_url = URLField(
        "…or a recorded message: audio URL (optional)",
        validators=[Optional(), URL(message="Give a full https:// address."), Length(max=500)],
        description="An MP3 or WAV file on the web; it is used instead of the text.",
    )
    script = TextAreaField("Script", render_kw={"rows": 12})

    def validate_caller_id(self, field):
        raw = (field.data or "").strip()
        if not raw:
            field.data = ""
            return
        try:
            field.data = normalize_phone(raw, current_app.config["DEFAULT_REGION"])
        except SupporterError as exc:
            raise ValidationError(f"That number looks wrong: {exc}.") from None

    def validate_window_end(self, field):
        start = time_to_minutes(self.window_start.data)
        end = time_to_minutes(field.data, end=True)
        if start is not None and end is not None and end <= start:
            raise ValidationError("The calling window must end after it starts.")

    def validate_phone_order(self, field):
        if field.data not in ALL_PHONE_ORDERS:
            raise ValidationError("Choose one of the listed orders.")

    def validate_voicemail_url(self, field):
        if field.data and not field.data.lower().startswith(("https://", "http://")):
            raise ValidationError("Give a full https:// address.")

    def validate_script(self, field):
        unknown = unknown_merge_fields(field.data)
        if unknown:
            names = ", ".join("{" + name + "}" for name in unknown)
            raise ValidationError(f"Unknown merge field {names}: check the spelling.")

    def weekday_windows(self) -> dict[str, list[int] | None]:
        """The weekday rows as Campaign.weekday_windows (days on the main window left out)."""
        windows: dict[str, list[int] | None] = {}
        for day, row in enumerate(self.weekdays):
            if row.mode.data == "none":
                windows[str(day)] = None
            elif row.mode.data == "custom":
                windows[str(day)] = [
                    time_to_minutes(row.start.data),
                    time_to_minutes(row.end.data, end=True),
                ]
        return windows


class QuestionForm(FlaskForm):
    kind = SelectField("Kind", choices=KIND_CHOICES, default=QuestionKind.SINGLE.value)
    prompt = StringField("Question", validators=[DataRequired(), Length(max=500)])
    choices = TextAreaField(
        "Answers, one per line", render_kw={"rows": 5}, description="Not needed for free text."
    )
    is_main = BooleanField("Main question: its answers count as IDs (one per campaign)")
    show_if = SelectField(
        "Show only if",
        validate_choice=False,
        default="",
        description="Pick an earlier question and the answer that brings this one up.",
    )
    answer_tags = TextAreaField(
        "Tags per answer (optional)",
        render_kw={"rows": 3, "placeholder": "Strong yes => supporter, volunteer-yes"},
        description=(
            "One line per answer: the answer, =>, then tags separated by commas. "
            "The person gets those tags in the supporter store."
        ),
    )
    event_id = SelectField("Records an RSVP to (optional)", coerce=int, default=0)
    rsvp_map = TextAreaField(
        "RSVP per answer",
        render_kw={"rows": 3, "placeholder": "Yes => yes\nMaybe => maybe\nNo => no"},
        description=(
            "One line per answer: the answer, =>, then yes, maybe or no. Left blank, "
            "answers named Yes, Maybe and No are used."
        ),
    )


class OutcomeRowForm(Form):
    """One row of the outcomes table (``title`` is the outcome's label)."""

    id = HiddenField()
    title = StringField("Label", validators=[DataRequired(), Length(max=80)])
    bucket = SelectField("Bucket", choices=BUCKET_CHOICES)
    retry_delay_minutes = IntegerField("Retry after (minutes)", validators=[Optional()])
    ends_attempts = BooleanField("Ends attempts")
    is_callback = BooleanField("Call-back")
    effect = SelectField("Marks", choices=EFFECT_CHOICES, default="")
    shortcut = StringField("Key", validators=[Optional(), Length(max=1)])
    active = BooleanField("Active")


class OutcomesForm(FlaskForm):
    outcomes = FieldList(FormField(OutcomeRowForm))


class NewOutcomeForm(FlaskForm):
    title = StringField("Label", validators=[DataRequired(), Length(max=80)])
    bucket = SelectField("Bucket", choices=BUCKET_CHOICES, default=OutcomeBucket.CONTACT.value)
    retry_delay_minutes = IntegerField(
        "Retry after (minutes)",
        validators=[Optional()],
        description="Retry outcomes: how long before the next try.",
    )
    ends_attempts = BooleanField("Ends this campaign's attempts for the person")
    is_callback = BooleanField("Call-back: the volunteer picks a time")
    effect = SelectField("Marks", choices=EFFECT_CHOICES, default="")
    shortcut = StringField(
        "Keyboard shortcut (one key, optional)", validators=[Optional(), Length(max=1)]
    )


class MemberForm(FlaskForm):
    user_id = SelectField("Volunteer or lead", coerce=int)


class TagForm(FlaskForm):
    tag_id = SelectField("Tag", coerce=int)


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change something."""
