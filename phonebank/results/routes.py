"""Results pages (staff, and leads for their campaigns), exports and their downloads.

Every form here is CSRF-checked by ``CSRFProtect``; exports are built outside the web process
(``results/jobs.py``) and every request and download is logged.
"""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select, true

from phonebank.auth.access import role_required
from phonebank.extensions import db
from phonebank.models import (
    Campaign,
    ExportJob,
    ExportKind,
    ExportLog,
    ExportStatus,
    Outcome,
    OutcomeBucket,
    QuestionKind,
    Role,
    User,
)
from phonebank.results import exports, jobs, services, tallies

bp = Blueprint("results", __name__, url_prefix="/results")

CAMPAIGN_EXPORTS = [
    ExportKind.CALLS,
    ExportKind.PEOPLE,
    ExportKind.VAN,
    ExportKind.ACTION_NETWORK,
    ExportKind.NATIONBUILDER,
]
ZONES = sorted(
    z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV"))
)


@bp.before_request
@login_required
def leads_and_staff():
    if not current_user.has_role(Role.LEAD):
        abort(403)


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id) or abort(404)
    if not services.can_see_results(current_user, campaign.id):
        abort(403)
    return campaign


def _period():
    return services.parse_period(request.args.get("start"), request.args.get("end"))


def _ensure_counted(campaign: Campaign) -> ExportJob | None:
    """A campaign whose tallies were counted in another zone (or never) gets a recount job;
    returns the job under way, if any."""
    if not tallies.needs_rebuild(campaign):
        return None
    running = db.session.scalar(
        select(ExportJob).where(
            ExportJob.campaign_id == campaign.id,
            ExportJob.kind == ExportKind.RETALLY,
            ExportJob.status.in_([ExportStatus.QUEUED, ExportStatus.RUNNING]),
        )
    )
    if running is not None:
        return running
    job = jobs.create_job(current_user, ExportKind.RETALLY, campaign)
    db.session.commit()
    jobs.start(job)
    return job


@bp.get("")
def index():
    period = _period()
    overview = services.overview(current_user, period)
    return render_template("results/index.html", overview=overview, period=period)


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    campaign = _campaign(campaign_id)
    recount = _ensure_counted(campaign)
    period = _period()
    crosstab = request.args.get("crosstab", type=int)
    figures = services.campaign_results(campaign, period, crosstab)
    recent = db.session.scalars(
        select(ExportJob)
        .where(
            ExportJob.campaign_id == campaign.id,
            ExportJob.kind != ExportKind.RETALLY,
            true()
            if current_user.has_role(Role.STAFF)
            else ExportJob.created_by_id == current_user.id,
        )
        .order_by(ExportJob.id.desc())
        .limit(10)
    ).all()
    outcomes = db.session.scalars(
        select(Outcome).where(Outcome.campaign_id == campaign.id).order_by(Outcome.position)
    ).all()
    members = db.session.execute(
        select(User.id, User.name)
        .where(User.id.in_([v["id"] for v in figures["volunteers"]] or [0]))
        .order_by(User.name)
    ).all()
    return render_template(
        "results/campaign.html",
        campaign=campaign,
        figures=figures,
        period=period,
        recount=recount,
        recent=recent,
        outcomes=outcomes,
        buckets=list(OutcomeBucket),
        volunteers=members,
        questions=[q for q in campaign.questions if q.kind != QuestionKind.TEXT],
        kinds=CAMPAIGN_EXPORTS,
        labels=jobs.KIND_LABELS,
        zones=ZONES,
        zone=tallies.campaign_zone_name(campaign),
        can_edit=current_user.has_role(Role.STAFF),
    )


@bp.post("/campaigns/<int:campaign_id>/time-zone")
@role_required(Role.STAFF)
def set_zone(campaign_id: int):
    campaign = _campaign(campaign_id)
    zone = request.form.get("time_zone", "")
    if zone and zone not in ZONES:
        flash("Choose a time zone from the list.", "error")
        return redirect(url_for("results.campaign", campaign_id=campaign.id))
    campaign.time_zone = zone
    db.session.commit()
    _ensure_counted(campaign)
    flash(f"Results now count days and hours in {tallies.campaign_zone_name(campaign)}.", "success")
    return redirect(url_for("results.campaign", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/exports")
def create_export(campaign_id: int):
    campaign = _campaign(campaign_id)
    try:
        kind = ExportKind(request.form.get("kind", ""))
    except ValueError:
        kind = None
    if kind not in CAMPAIGN_EXPORTS:
        flash("Choose what to export.", "error")
        return redirect(url_for("results.campaign", campaign_id=campaign.id))
    filters = {
        key: request.form.get(key, "").strip()
        for key in ("start", "end", "outcome", "bucket", "volunteer_id", "question_id", "answer")
    }
    try:
        job = jobs.create_job(
            current_user,
            kind,
            campaign,
            filters,
            full_numbers=request.form.get("full_numbers") == "1",
            excel=request.form.get("excel") == "1",
        )
    except jobs.ExportError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("results.campaign", campaign_id=campaign.id))
    db.session.commit()
    jobs.start(job)
    return redirect(url_for("results.export", job_id=job.id))


def _job(job_id: int) -> ExportJob:
    job = db.session.get(ExportJob, job_id) or abort(404)
    if job.kind == ExportKind.RETALLY:
        abort(404)
    if not current_user.has_role(Role.STAFF):
        if job.created_by_id != current_user.id or job.campaign_id is None:
            abort(404)
        if not services.can_see_results(current_user, job.campaign_id):
            abort(404)
    return job


@bp.get("/exports/<int:job_id>")
def export(job_id: int):
    job = _job(job_id)
    campaign = db.session.get(Campaign, job.campaign_id) if job.campaign_id else None
    return render_template(
        "results/export.html",
        job=job,
        campaign=campaign,
        payload=jobs.status_payload(job),
        what=jobs.describe(job, campaign),
    )


@bp.get("/exports/<int:job_id>/status")
def export_status(job_id: int):
    job = _job(job_id)
    jobs.recover_stale()
    db.session.commit()
    return jsonify(jobs.status_payload(db.session.get(ExportJob, job.id, populate_existing=True)))


@bp.get("/exports/<int:job_id>/download")
def download(job_id: int):
    job = _job(job_id)
    path = jobs.file_path(job)
    if path is None:
        abort(404)
    jobs.record_download(job, current_user)
    db.session.commit()
    return send_file(
        path,
        mimetype="text/csv",
        as_attachment=True,
        download_name=job.filename or f"export-{job.id}.csv",
        max_age=0,
    )


@bp.get("/exports")
@role_required(Role.STAFF)
def export_log():
    entries = db.session.execute(
        select(ExportLog, User.name)
        .join(User, User.id == ExportLog.user_id)
        .order_by(ExportLog.id.desc())
        .limit(300)
    ).all()
    return render_template("results/log.html", entries=entries)


@bp.route("/campaigns/<int:campaign_id>/van", methods=["GET", "POST"])
@role_required(Role.STAFF)
def van(campaign_id: int):
    """Which VAN result code each outcome sends, and which survey question and response ids
    each answer sends, saved per campaign."""
    campaign = _campaign(campaign_id)
    mapping = exports.van_mapping(campaign)
    questions = [q for q in campaign.questions if q.kind != QuestionKind.TEXT]
    if request.method == "POST":
        results = {
            o.code: request.form.get(f"result_{o.code}", "").strip()[:20] for o in campaign.outcomes
        }
        mapped = {}
        for q in questions:
            question_id = request.form.get(f"question_{q.id}", "").strip()[:20]
            responses = {
                choice: request.form.get(f"response_{q.id}_{index}", "").strip()[:20]
                for index, choice in enumerate(q.choices)
            }
            responses = {k: v for k, v in responses.items() if v}
            if question_id or responses:
                mapped[str(q.id)] = {"id": question_id, "responses": responses}
        contact_type = request.form.get("contact_type", "Phone").strip()[:20] or "Phone"
        campaign.export_mappings = {
            **(campaign.export_mappings or {}),
            "van": {"results": results, "questions": mapped, "contact_type": contact_type},
        }
        db.session.commit()
        flash("VAN mapping saved.", "success")
        return redirect(url_for("results.campaign", campaign_id=campaign.id) + "#exports")
    return render_template(
        "results/van.html", campaign=campaign, mapping=mapping, questions=questions
    )
