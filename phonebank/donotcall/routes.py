"""Staff pages for the do-not-call list: search, add (one, pasted or uploaded), remove with a
reason, history, export. Forms are CSRF-checked by ``CSRFProtect``."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from phonebank.auth.access import role_required
from phonebank.donotcall import services
from phonebank.extensions import db
from phonebank.models import ExportKind, Role
from phonebank.results import jobs
from phonebank.supporters import services as supporters

bp = Blueprint("donotcall", __name__, url_prefix="/do-not-call")


@bp.before_request
@role_required(Role.STAFF)
def staff_only():
    return None


@bp.get("")
def index():
    query = request.args.get("q", "")
    return render_template(
        "donotcall/index.html",
        query=query,
        entries=services.search(query),
        people=services.flagged_people(query),
        history=services.history(),
        total=services.count(),
    )


@bp.post("/add")
def add():
    raw = services.numbers_from_text(request.form.get("numbers", ""))
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw += services.numbers_from_file(upload.read())
    if not raw:
        flash("Give at least one number.", "error")
        return redirect(url_for("donotcall.index"))
    try:
        result = services.add_numbers(raw, request.form.get("reason", "").strip(), current_user)
    except supporters.SupporterError as exc:
        db.session.rollback()
        flash(f"Nothing was added: {exc}.", "error")
        return redirect(url_for("donotcall.index"))
    db.session.commit()
    parts = [f"{len(result.added):,} added"]
    if result.already:
        parts.append(f"{len(result.already):,} already on the list")
    if result.invalid:
        shown = "; ".join(f"“{text}”: {why}" for text, why in result.invalid[:5])
        more = f" and {len(result.invalid) - 5:,} more" if len(result.invalid) > 5 else ""
        parts.append(f"{len(result.invalid):,} not usable ({shown}{more})")
    flash(", ".join(parts) + ".", "error" if result.invalid and not result.added else "success")
    return redirect(url_for("donotcall.index"))


@bp.post("/remove")
def remove():
    number = request.form.get("number", "")
    try:
        removed = supporters.remove_from_do_not_call(
            number, request.form.get("reason", ""), current_user
        )
    except supporters.SupporterError as exc:
        db.session.rollback()
        flash(f"{number} was not removed: {exc}.", "error")
        return redirect(url_for("donotcall.index", q=request.form.get("q", "")))
    db.session.commit()
    if removed:
        flash(f"{number} may be called again.", "success")
    else:
        flash(f"{number} was not on the list.", "info")
    return redirect(url_for("donotcall.index", q=request.form.get("q", "")))


@bp.post("/export")
def export():
    job = jobs.create_job(
        current_user, ExportKind.DO_NOT_CALL, None, {"q": request.form.get("q", "")},
        excel=request.form.get("excel") == "1",
    )  # fmt: skip
    db.session.commit()
    jobs.start(job)
    return redirect(url_for("results.export", job_id=job.id))
