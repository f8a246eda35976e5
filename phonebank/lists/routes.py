"""Staff pages for target lists: upload, confirm the column mapping, watch, report, rejects."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from phonebank.auth.access import role_required
from phonebank.campaigns.forms import EmptyForm
from phonebank.extensions import db
from phonebank.lists import mapping as mappings
from phonebank.lists import services
from phonebank.lists.reader import FileFormat, ListFileError
from phonebank.models import Campaign, CampaignStatus, ListCampaign, ListStatus, PeopleList, Role

bp = Blueprint("lists", __name__, url_prefix="/lists")


@bp.before_request
@role_required(Role.STAFF)
def staff_only():
    return None


def _list(list_id: int) -> PeopleList:
    return db.session.get(PeopleList, list_id) or abort(404)


def _check_csrf() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


@bp.get("")
def index():
    services.recover_stale()
    lists = db.session.scalars(select(PeopleList).order_by(PeopleList.id.desc()).limit(200)).all()
    return render_template(
        "lists/index.html", lists=lists, form=EmptyForm(), max_mb=services.max_bytes() >> 20
    )


@bp.post("/upload")
def upload():
    _check_csrf()
    file = request.files.get("file")
    if file is None or not file.filename:
        flash("Choose a file to upload.", "error")
        return redirect(url_for("lists.index"))
    try:
        plist = services.store_upload(
            file.stream, file.filename, request.form.get("name", ""), current_user
        )
    except ListFileError as exc:
        db.session.rollback()
        flash(f"{file.filename}: {exc}", "error")
        return redirect(url_for("lists.index"))
    db.session.commit()
    return redirect(url_for("lists.map_columns", list_id=plist.id))


def _campaign_choices() -> list[Campaign]:
    return db.session.scalars(
        select(Campaign).where(Campaign.status != CampaignStatus.FINISHED).order_by(Campaign.name)
    ).all()


@bp.get("/<int:list_id>/map")
def map_columns(list_id: int):
    plist = _list(list_id)
    if plist.status != ListStatus.UPLOADED:
        return redirect(url_for("lists.show", list_id=list_id))
    return _render_mapping(plist, plist.mapping, plist.campaign_ids or [])


def _render_mapping(plist: PeopleList, mapping: dict, chosen: list[int], error: str = ""):
    sample = services.list_preview(plist)
    columns = []
    for index in range(plist.width):
        name = plist.header[index] if plist.header and index < len(plist.header) else ""
        values = [row[index] for row in sample if index < len(row)]
        columns.append((index, name or f"Column {index + 1}", values, mapping["columns"][index]))
    status = 400 if error else 200
    return (
        render_template(
            "lists/map.html",
            plist=plist,
            mapping=mapping,
            columns=columns,
            fmt=FileFormat.from_dict(plist.file_format),
            fields=mappings.FIELDS,
            phone_types=mappings.PHONE_TYPES,
            id_systems=mappings.ID_SYSTEMS,
            regions=mappings.REGIONS,
            max_slots=mappings.MAX_SLOTS,
            campaigns=_campaign_choices(),
            chosen=set(chosen),
            error=error,
            form=EmptyForm(),
        ),
        status,
    )


@bp.post("/<int:list_id>/format")
def change_format(list_id: int):
    _check_csrf()
    plist = _list(list_id)
    if plist.status != ListStatus.UPLOADED:
        abort(409)
    services.change_format(plist, has_header=request.form.get("has_header") == "1")
    db.session.commit()
    return redirect(url_for("lists.map_columns", list_id=list_id))


@bp.post("/<int:list_id>/map")
def confirm(list_id: int):
    _check_csrf()
    plist = _list(list_id)
    if plist.status != ListStatus.UPLOADED:
        return redirect(url_for("lists.show", list_id=list_id))
    form = request.form
    columns = []
    for index in range(plist.width):
        columns.append(
            {
                "field": form.get(f"field-{index}", "ignore"),
                "slot": form.get(f"slot-{index}") or 1,
                "type": form.get(f"type-{index}") or "unknown",
                "name": form.get(f"name-{index}", ""),
            }
        )
    mapping = {
        "columns": columns,
        "region": form.get("region", "US"),
        "id_system": form.get("id_system", "other"),
        "list_tag": form.get("list_tag", ""),
    }
    chosen = [int(c) for c in form.getlist("campaign") if c.isdigit()]
    try:
        services.confirm(plist, mapping, chosen)
    except mappings.MappingError as exc:
        db.session.rollback()
        return _render_mapping(plist, mapping, chosen, error=str(exc))
    plist.name = (form.get("name") or plist.name).strip()[:200] or plist.name
    db.session.commit()
    services.start(plist)
    return redirect(url_for("lists.show", list_id=list_id))


@bp.get("/<int:list_id>")
def show(list_id: int):
    plist = _list(list_id)
    if plist.status == ListStatus.UPLOADED:
        return redirect(url_for("lists.map_columns", list_id=list_id))
    services.recover_stale()
    fed = db.session.execute(
        select(ListCampaign, Campaign)
        .join(Campaign, Campaign.id == ListCampaign.campaign_id)
        .where(ListCampaign.list_id == list_id)
    ).all()
    campaigns = {
        c.id: c
        for c in db.session.scalars(
            select(Campaign).where(Campaign.id.in_(plist.campaign_ids or []))
        )
    }
    return render_template(
        "lists/show.html",
        plist=plist,
        progress=services.read_progress(plist),
        described=mappings.describe(plist.mapping, plist.header) if plist.mapping else [],
        fed=fed,
        campaigns=campaigns,
        fmt=FileFormat.from_dict(plist.file_format),
        form=EmptyForm(),
    )


@bp.get("/<int:list_id>/progress")
def progress(list_id: int):
    plist = _list(list_id)
    return jsonify(services.status_payload(plist))


@bp.post("/<int:list_id>/cancel")
def cancel(list_id: int):
    _check_csrf()
    plist = _list(list_id)
    if services.request_cancel(plist):
        flash("Cancelling: nothing from this import will be kept.", "info")
    else:
        flash("This import has already finished.", "error")
    db.session.commit()
    return redirect(url_for("lists.show", list_id=list_id))


@bp.post("/<int:list_id>/again")
def again(list_id: int):
    _check_csrf()
    plist = _list(list_id)
    if plist.status not in (ListStatus.FAILED, ListStatus.CANCELLED):
        abort(409)
    try:
        copy = services.reimport(plist, current_user)
    except ListFileError as exc:
        flash(str(exc), "error")
        return redirect(url_for("lists.show", list_id=list_id))
    db.session.commit()
    services.start(copy)
    return redirect(url_for("lists.show", list_id=copy.id))


@bp.get("/<int:list_id>/rejects.csv")
def rejects(list_id: int):
    plist = _list(list_id)
    if plist.status != ListStatus.DONE:
        abort(404)
    filename = f"{plist.filename.rsplit('.', 1)[0]}-rejected-rows.csv"
    return Response(
        stream_with_context(services.rejects_csv(plist)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
