"""Staff pages to create and edit campaigns: settings, survey, outcomes, members, call list."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from phonebank.auth.access import role_required
from phonebank.campaigns import services
from phonebank.campaigns.forms import (
    BUCKET_LABELS,
    DIALING_HELP,
    STATUS_HELP,
    WEEKDAYS,
    CampaignForm,
    EmptyForm,
    MemberForm,
    NewOutcomeForm,
    OutcomesForm,
    QuestionForm,
    TagForm,
    minutes_to_time,
    phone_order_choices,
    phone_order_label,
    time_to_minutes,
)
from phonebank.campaigns.services import CampaignError
from phonebank.extensions import db
from phonebank.models import (
    Campaign,
    CampaignStatus,
    DialingMode,
    Event,
    Outcome,
    OutcomeBucket,
    Person,
    PersonTag,
    QuestionKind,
    Role,
    SurveyQuestion,
    Tag,
    User,
)
from phonebank.models.campaign import DEFAULT_PHONE_ORDER

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")


def _campaign(campaign_id: int) -> Campaign:
    return db.session.get(Campaign, campaign_id) or abort(404)


def _check_csrf() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _back(campaign: Campaign, anchor: str):
    return redirect(url_for("campaigns.show", campaign_id=campaign.id, _anchor=anchor))


def format_minutes(minutes: int) -> str:
    return "24:00" if minutes == 24 * 60 else f"{minutes // 60:02d}:{minutes % 60:02d}"


def describe_hours(campaign: Campaign) -> list[str]:
    """The calling window in words: the main window, then each weekday that differs."""
    lines = [f"{format_minutes(campaign.window_start)}–{format_minutes(campaign.window_end)}"]
    for day, name in enumerate(WEEKDAYS):
        key = str(day)
        if key not in (campaign.weekday_windows or {}):
            continue
        window = campaign.weekday_windows[key]
        if window is None:
            lines.append(f"{name}: no calls")
        else:
            lines.append(f"{name}: {format_minutes(window[0])}–{format_minutes(window[1])}")
    return lines


# --- the list and the settings form ----------------------------------------------------------


@bp.route("")
@role_required(Role.STAFF)
def index():
    return render_template(
        "campaigns/index.html", summaries=services.campaign_summaries(), DIALING_HELP=DIALING_HELP
    )


def _settings_data(campaign: Campaign) -> dict:
    weekdays = []
    for day in range(7):
        windows = campaign.weekday_windows or {}
        if str(day) not in windows:
            weekdays.append({"mode": "main"})
        elif windows[str(day)] is None:
            weekdays.append({"mode": "none"})
        else:
            start, end = windows[str(day)]
            weekdays.append(
                {"mode": "custom", "start": minutes_to_time(start), "end": minutes_to_time(end)}
            )
    return {
        "name": campaign.name,
        "description": campaign.description,
        "status": campaign.status.value,
        "dialing_mode": campaign.dialing_mode.value,
        "caller_id": campaign.caller_id,
        "window_start": minutes_to_time(campaign.window_start),
        "window_end": minutes_to_time(campaign.window_end),
        "weekdays": weekdays,
        "max_attempts": campaign.max_attempts,
        "phone_order": campaign.phone_order,
        "voicemail_text": campaign.voicemail_text,
        "voicemail_url": campaign.voicemail_url,
        "script": campaign.script,
    }


def _settings_from(form: CampaignForm) -> dict:
    return {
        "description": (form.description.data or "").strip(),
        "status": CampaignStatus(form.status.data),
        "dialing_mode": DialingMode(form.dialing_mode.data),
        "caller_id": form.caller_id.data or "",
        "window_start": time_to_minutes(form.window_start.data),
        "window_end": time_to_minutes(form.window_end.data, end=True),
        "weekday_windows": form.weekday_windows(),
        "max_attempts": form.max_attempts.data,
        "phone_order": form.phone_order.data,
        "voicemail_text": (form.voicemail_text.data or "").strip(),
        "voicemail_url": (form.voicemail_url.data or "").strip(),
        "script": (form.script.data or "").replace("\r\n", "\n"),
    }


def _script_preview(script: str, campaign_name: str) -> Markup:
    fields = services.sample_script_fields(current_user, campaign_name)
    return Markup(services.render_script(script or "", fields))


def _render_settings(form: CampaignForm, campaign: Campaign | None, error: str | None = None):
    return render_template(
        "campaigns/form.html",
        form=form,
        campaign=campaign,
        error=error,
        weekday_names=WEEKDAYS,
        status_help=STATUS_HELP,
        preview=_script_preview(form.script.data, form.name.data or ""),
        merge_fields=services.SCRIPT_FIELD_NAMES,
    ), (422 if error or form.errors else 200)


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.STAFF)
def new():
    defaults = Campaign(
        name="",
        description="",
        status=CampaignStatus.DRAFT,
        dialing_mode=DialingMode.PREVIEW,
        caller_id="",
        window_start=8 * 60,
        window_end=21 * 60,
        weekday_windows={},
        max_attempts=3,
        phone_order=DEFAULT_PHONE_ORDER,
        voicemail_text="",
        voicemail_url="",
        script="",
    )  # never added to the session: it only fills the blank form
    form = CampaignForm(data=_settings_data(defaults))
    if form.validate_on_submit():
        try:
            campaign = services.create_campaign(
                form.name.data, current_user, **_settings_from(form)
            )
        except CampaignError as exc:
            db.session.rollback()
            return _render_settings(form, None, str(exc))
        db.session.commit()
        flash(
            f"Campaign “{campaign.name}” created with the default outcomes. "
            "Add survey questions, members and people to call below.",
            "success",
        )
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return _render_settings(form, None)


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@role_required(Role.STAFF)
def edit(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = CampaignForm(data=_settings_data(campaign))
    form.phone_order.choices = phone_order_choices(campaign.phone_order)
    if form.validate_on_submit():
        try:
            campaign.name = form.name.data.strip()
            for key, value in _settings_from(form).items():
                setattr(campaign, key, value)
            services.validate_settings(campaign)
            db.session.flush()
        except CampaignError as exc:
            db.session.rollback()
            return _render_settings(form, _campaign(campaign_id), str(exc))
        db.session.commit()
        saved = f"Saved the settings of “{campaign.name}”."
        if campaign.caller_id:
            saved += f" Caller ID stored as {campaign.caller_id}."
        flash(saved, "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return _render_settings(form, campaign)


@bp.route("/script-preview", methods=["POST"])
@role_required(Role.STAFF)
def script_preview():
    """The settings page's live preview: the script rendered for a made-up voter."""
    payload = request.get_json(silent=True) or {}
    script = str(payload.get("script") or "")
    return jsonify(
        html=str(_script_preview(script, str(payload.get("name") or ""))),
        unknown=services.unknown_merge_fields(script),
    )


# --- the campaign page -----------------------------------------------------------------------


def _question_form(campaign: Campaign, question: SurveyQuestion | None = None, **kwargs):
    """The question form with its choices: earlier questions' answers and the events."""
    form = QuestionForm(**kwargs)
    questions = services.ordered_questions(campaign)
    earlier = questions if question is None else questions[: questions.index(question)]
    options = [SelectChoice("", "— always shown —")]
    for number, q in enumerate(earlier, start=1):
        if q.kind == QuestionKind.TEXT:
            continue
        group = f"{number}. {q.prompt[:60]}"
        options += [
            SelectChoice(f"{q.id}|{c}", f"answered “{c}”", optgroup=group) for c in q.choices
        ]
    form.show_if.choices = options
    events = db.session.scalars(select(Event).order_by(Event.starts_at.desc()))
    form.event_id.choices = [SelectChoice(0, "— no event —")] + [
        SelectChoice(e.id, f"{e.title} ({e.starts_at:%d %b %Y})") for e in events
    ]
    return form


def _question_data(question: SurveyQuestion) -> dict:
    show_if = ""
    if question.show_if_question_id is not None:
        show_if = f"{question.show_if_question_id}|{question.show_if_value}"
    return {
        "kind": question.kind.value,
        "prompt": question.prompt,
        "choices": "\n".join(question.choices or []),
        "is_main": question.is_main,
        "show_if": show_if,
        "answer_tags": services.format_answer_lines(question.answer_tags, question.choices),
        "event_id": question.event_id or 0,
        "rsvp_map": services.format_answer_lines(question.rsvp_map, question.choices),
    }


def _outcomes_form(campaign: Campaign, formdata=None) -> OutcomesForm:
    rows = [
        {
            "id": str(o.id),
            "title": o.label,
            "bucket": o.bucket.value,
            "retry_delay_minutes": o.retry_delay_minutes,
            "ends_attempts": o.ends_attempts,
            "is_callback": o.is_callback,
            "effect": services.outcome_effect(o),
            "shortcut": o.shortcut or "",
            "active": o.active,
        }
        for o in campaign.outcomes
    ]
    if formdata is not None:
        return OutcomesForm(formdata=formdata)
    return OutcomesForm(formdata=None, data={"outcomes": rows})


def _member_form(campaign: Campaign, **kwargs) -> MemberForm:
    form = MemberForm(**kwargs)
    taken = {m.user_id for m in campaign.members}
    candidates = db.session.scalars(
        select(User)
        .where(User.role.in_([Role.VOLUNTEER, Role.LEAD]), User.is_active_account.is_(True))
        .order_by(User.name)
    )
    form.user_id.choices = [
        SelectChoice(u.id, f"{u.name} ({u.role.label.lower()}, {u.email})")
        for u in candidates
        if u.id not in taken
    ]
    return form


def _tag_form(**kwargs) -> TagForm:
    form = TagForm(**kwargs)
    rows = db.session.execute(
        select(Tag.id, Tag.name, func.count(PersonTag.person_id))
        .join(PersonTag, PersonTag.tag_id == Tag.id)
        .group_by(Tag.id, Tag.name)
        .order_by(Tag.name)
    )
    form.tag_id.choices = [
        SelectChoice(tag_id, f"{name} ({count} {'person' if count == 1 else 'people'})")
        for tag_id, name, count in rows
    ]
    return form


def _render_campaign(
    campaign: Campaign,
    status: int = 200,
    question_error: str | None = None,
    new_outcome_error: str | None = None,
    **forms,
):
    """The campaign page; a refused form comes back in ``forms`` with its error message."""
    questions = services.ordered_questions(campaign)
    numbers = {q.id: n for n, q in enumerate(questions, start=1)}
    by_status, reasons = services.target_counts(campaign)
    outcome_labels = {o.code: o.label for o in campaign.outcomes}
    reason_labels = {
        "max_attempts": "Reached the attempt limit",
        "no_good_phone": "No usable phone left",
        "unknown": "Unknown",
    }
    events = {
        e.id: e
        for e in db.session.scalars(
            select(Event).where(Event.id.in_({q.event_id for q in questions if q.event_id}))
        )
    }
    members = sorted(campaign.members, key=lambda m: (m.user.role.rank, m.user.name.lower()))
    people_in_store = db.session.scalar(
        select(func.count()).select_from(Person).where(Person.merged_into_id.is_(None))
    )
    checks = [
        ("A script", bool(campaign.script.strip())),
        ("A main survey question (for ID counts)", any(q.is_main for q in questions)),
        ("People on the call list", sum(by_status.values()) > 0),
        ("Volunteers or leads assigned", bool(campaign.members)),
        ("Status is active", campaign.status == CampaignStatus.ACTIVE),
    ]
    return render_template(
        "campaigns/show.html",
        campaign=campaign,
        questions=questions,
        numbers=numbers,
        events=events,
        hours=describe_hours(campaign),
        phone_order=phone_order_label(campaign.phone_order),
        dialing_help=DIALING_HELP[campaign.dialing_mode.value],
        preview=_script_preview(campaign.script, campaign.name),
        by_status=by_status,
        total=sum(by_status.values()),
        reasons=[
            (outcome_labels.get(r) or reason_labels.get(r) or r, count) for r, count in reasons
        ],
        members=members,
        people_in_store=people_in_store,
        checks=checks,
        bucket_labels=BUCKET_LABELS,
        auto_situations=services.AUTO_SITUATIONS,
        outcomes_by_id={str(o.id): o for o in campaign.outcomes},
        deletable={
            o.id
            for o in campaign.outcomes
            if o.auto_for
            and any(
                p.active and p.auto_for == o.auto_for and p.id != o.id for p in campaign.outcomes
            )
        },
        question_form=forms.get("question_form") or _question_form(campaign, formdata=None),
        outcomes_form=forms.get("outcomes_form") or _outcomes_form(campaign),
        new_outcome_form=forms.get("new_outcome_form") or NewOutcomeForm(formdata=None),
        member_form=forms.get("member_form") or _member_form(campaign, formdata=None),
        tag_form=forms.get("tag_form") or _tag_form(formdata=None),
        action_form=EmptyForm(formdata=None),
        question_error=question_error,
        new_outcome_error=new_outcome_error,
    ), status


@bp.route("/<int:campaign_id>")
@role_required(Role.STAFF)
def show(campaign_id: int):
    return _render_campaign(_campaign(campaign_id))


# --- survey questions ------------------------------------------------------------------------


def _question_settings(form: QuestionForm) -> dict:
    """The form's fields as save_question takes them (CampaignError for malformed lines)."""
    kind = QuestionKind(form.kind.data)
    choices = services.clean_choices((form.choices.data or "").splitlines())
    if kind == QuestionKind.TEXT:
        choices = []
    effects = bool(
        (form.answer_tags.data or "").strip()
        or (form.rsvp_map.data or "").strip()
        or form.event_id.data
    )
    services.check_choices(kind, choices, effects)  # before the lines that name answers
    show_if = None
    if form.show_if.data:
        question_id, _, value = form.show_if.data.partition("|")
        if not question_id.isdigit():
            raise CampaignError("“Show only if” must name an earlier question and one answer.")
        show_if = (int(question_id), value)
    return {
        "kind": kind,
        "prompt": form.prompt.data,
        "choices": choices,
        "is_main": form.is_main.data,
        "show_if": show_if,
        "answer_tags": services.parse_answer_tags(form.answer_tags.data, choices),
        "event_id": form.event_id.data or None,
        "rsvp_map": services.parse_rsvp_map(form.rsvp_map.data, choices),
    }


@bp.route("/<int:campaign_id>/questions", methods=["POST"])
@role_required(Role.STAFF)
def add_question(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = _question_form(campaign)
    if form.validate_on_submit():
        try:
            question, notice = services.save_question(campaign, None, **_question_settings(form))
        except CampaignError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash(f"Added question {len(campaign.questions)}: “{question.prompt}”.", "success")
            if notice:
                flash(notice, "info")
            return _back(campaign, "questions")
    else:
        error = "The question was not added: see the marked fields."
    return _render_campaign(_campaign(campaign_id), 422, question_form=form, question_error=error)


def _question(campaign: Campaign, question_id: int) -> SurveyQuestion:
    question = db.session.get(SurveyQuestion, question_id)
    if question is None or question.campaign_id != campaign.id:
        abort(404)
    return question


@bp.route("/<int:campaign_id>/questions/<int:question_id>", methods=["GET", "POST"])
@role_required(Role.STAFF)
def edit_question(campaign_id: int, question_id: int):
    campaign = _campaign(campaign_id)
    question = _question(campaign, question_id)
    form = _question_form(campaign, question, data=_question_data(question))
    error = None
    if form.validate_on_submit():
        try:
            _, notice = services.save_question(campaign, question, **_question_settings(form))
        except CampaignError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash(f"Saved question “{question.prompt}”.", "success")
            if notice:
                flash(notice, "info")
            return _back(campaign, "questions")
    campaign = _campaign(campaign_id)
    question = _question(campaign, question_id)
    return render_template(
        "campaigns/question.html",
        campaign=campaign,
        question=question,
        number=services.ordered_questions(campaign).index(question) + 1,
        form=form,
        error=error,
    ), (422 if error or form.errors else 200)


@bp.route("/<int:campaign_id>/questions/<int:question_id>/move", methods=["POST"])
@role_required(Role.STAFF)
def move_question(campaign_id: int, question_id: int):
    campaign = _campaign(campaign_id)
    question = _question(campaign, question_id)
    _check_csrf()
    step = -1 if request.form.get("direction") == "up" else 1
    try:
        services.move_question(question, step)
    except CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
    return _back(campaign, "questions")


@bp.route("/<int:campaign_id>/questions/<int:question_id>/delete", methods=["POST"])
@role_required(Role.STAFF)
def delete_question(campaign_id: int, question_id: int):
    campaign = _campaign(campaign_id)
    question = _question(campaign, question_id)
    _check_csrf()
    prompt = question.prompt
    try:
        services.delete_question(question)
    except CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"Deleted question “{prompt}”.", "success")
    return _back(campaign, "questions")


# --- outcomes --------------------------------------------------------------------------------


def _outcome_settings(row) -> dict:
    return {
        "label": row.title.data,
        "bucket": OutcomeBucket(row.bucket.data),
        "retry_delay_minutes": row.retry_delay_minutes.data,
        "ends_attempts": row.ends_attempts.data,
        "is_callback": row.is_callback.data,
        "effect": row.effect.data or "",
        "shortcut": row.shortcut.data,
    }


@bp.route("/<int:campaign_id>/outcomes", methods=["POST"])
@role_required(Role.STAFF)
def save_outcomes(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = _outcomes_form(campaign, formdata=request.form)
    if form.validate_on_submit():
        by_id = {str(o.id): o for o in campaign.outcomes}
        try:
            for entry in form.outcomes:
                outcome = by_id.get(entry.form.id.data)
                if outcome is None:
                    continue  # deleted meanwhile, or not this campaign's
                services.apply_outcome_settings(
                    outcome, active=entry.form.active.data, **_outcome_settings(entry.form)
                )
            services.validate_outcomes(campaign)
            db.session.flush()
        except CampaignError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("Saved the outcomes.", "success")
            return _back(campaign, "outcomes")
    else:
        for entry in form.outcomes:
            for name, errors in entry.form.errors.items():
                label = entry.form.title.data or "Outcome"
                field = getattr(entry.form, name)
                flash(f"{label}, {field.label.text}: {'; '.join(errors)}", "error")
    return _render_campaign(_campaign(campaign_id), 422, outcomes_form=form)


@bp.route("/<int:campaign_id>/outcomes/new", methods=["POST"])
@role_required(Role.STAFF)
def add_outcome(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = NewOutcomeForm()
    if form.validate_on_submit():
        try:
            outcome = services.add_outcome(campaign, active=True, **_outcome_settings(form))
        except CampaignError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
            flash(f"Added the outcome “{outcome.label}”.", "success")
            return _back(campaign, "outcomes")
    else:
        error = "The outcome was not added: see the marked fields."
    return _render_campaign(
        _campaign(campaign_id), 422, new_outcome_form=form, new_outcome_error=error
    )


@bp.route("/<int:campaign_id>/outcomes/<int:outcome_id>/delete", methods=["POST"])
@role_required(Role.STAFF)
def delete_outcome(campaign_id: int, outcome_id: int):
    campaign = _campaign(campaign_id)
    outcome = db.session.get(Outcome, outcome_id)
    if outcome is None or outcome.campaign_id != campaign.id:
        abort(404)
    _check_csrf()
    label = outcome.label
    try:
        services.delete_outcome(outcome)
    except CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"Deleted the outcome “{label}”.", "success")
    return _back(campaign, "outcomes")


@bp.route("/<int:campaign_id>/outcomes/reset", methods=["POST"])
@role_required(Role.STAFF)
def reset_outcomes(campaign_id: int):
    campaign = _campaign(campaign_id)
    _check_csrf()
    services.reset_outcomes(campaign)
    db.session.commit()
    flash("The outcomes are back to the defaults.", "success")
    return _back(campaign, "outcomes")


# --- members ---------------------------------------------------------------------------------


@bp.route("/<int:campaign_id>/members", methods=["POST"])
@role_required(Role.STAFF)
def add_member(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = _member_form(campaign)
    if form.validate_on_submit():
        user = db.session.get(User, form.user_id.data) or abort(404)
        try:
            services.add_member(campaign, user)
        except CampaignError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"{user.name} can now work on this campaign.", "success")
    else:
        flash("Choose a volunteer or lead from the list.", "error")
    return _back(campaign, "members")


@bp.route("/<int:campaign_id>/members/<int:user_id>/remove", methods=["POST"])
@role_required(Role.STAFF)
def remove_member(campaign_id: int, user_id: int):
    campaign = _campaign(campaign_id)
    _check_csrf()
    try:
        member = services.remove_member(campaign, user_id)
    except CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        name = member.user.name
        db.session.commit()
        flash(f"{name} is no longer on this campaign.", "success")
    return _back(campaign, "members")


# --- the call list ---------------------------------------------------------------------------


def _report_addition(result: services.ListAddition, what: str) -> None:
    message = (
        f"Added {result.added} {'person' if result.added == 1 else 'people'} {what}; "
        f"{result.already} already on the list."
    )
    left_out = []
    if result.flagged:
        left_out.append(f"{result.flagged} flagged do not call, deceased or moved")
    if result.no_phone:
        left_out.append(f"{result.no_phone} without a usable phone")
    if left_out:
        message += " Left out: " + ", ".join(left_out) + "."
    flash(message, "success")


@bp.route("/<int:campaign_id>/list/tag", methods=["POST"])
@role_required(Role.STAFF)
def add_people_with_tag(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = _tag_form()
    if form.validate_on_submit():
        tag = db.session.get(Tag, form.tag_id.data) or abort(404)
        result = services.add_people_from_store(campaign, tag_id=tag.id)
        db.session.commit()
        _report_addition(result, f"tagged “{tag.name}”")
    else:
        flash("Choose a tag from the list.", "error")
    return _back(campaign, "call-list")


@bp.route("/<int:campaign_id>/list/everyone", methods=["POST"])
@role_required(Role.STAFF)
def add_everyone(campaign_id: int):
    campaign = _campaign(campaign_id)
    _check_csrf()
    result = services.add_people_from_store(campaign)
    db.session.commit()
    _report_addition(result, "from the supporter store")
    return _back(campaign, "call-list")
