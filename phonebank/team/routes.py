"""Staff pages: users, roles, deactivation, password resets, invite links."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from wtforms.fields.choices import SelectChoice

from phonebank.auth import services as accounts
from phonebank.auth.access import role_required
from phonebank.extensions import db
from phonebank.models import Campaign, Invite, Role, SocketConnection, User
from phonebank.supporters.services import SupporterError, normalize_phone
from phonebank.team.forms import EditUserForm, EmptyForm, InviteForm, NewUserForm

bp = Blueprint("team", __name__, url_prefix="/team")


@bp.route("/users")
@role_required(Role.STAFF)
def users():
    q = (request.args.get("q") or "").strip()
    role = request.args.get("role") or ""
    query = select(User).order_by(User.is_active_account.desc(), User.name)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(func.lower(User.name).like(like), User.email.like(like)))
    if role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    online = set(db.session.scalars(select(SocketConnection.user_id).distinct()))
    return render_template(
        "team/users.html",
        users=list(db.session.scalars(query)),
        online=online,
        q=q,
        role=role,
        form=NewUserForm(),
        action_form=EmptyForm(),
    )


@bp.route("/users", methods=["POST"])
@role_required(Role.STAFF)
def create_user():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            phone = None
            if form.phone.data:
                try:
                    phone = normalize_phone(form.phone.data, current_app.config["DEFAULT_REGION"])
                except SupporterError as exc:
                    raise accounts.AccountError(f"That phone number looks wrong: {exc}.") from None
            user = accounts.create_user(
                form.email.data, form.name.data, form.password.data, Role(form.role.data), phone
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Account created for {user.name} ({user.email}).", "success")
            return redirect(url_for("team.users"))
    for field, errors in form.errors.items():
        for error in errors:
            flash(f"{getattr(form, field).label.text}: {error}", "error")
    return redirect(url_for("team.users"))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required(Role.STAFF)
def edit_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = EditUserForm(role=user.role.value)
    if form.validate_on_submit():
        new_role = Role(form.role.data)
        if user.id == current_user.id and new_role != user.role:
            flash("You cannot change your own role; ask another staff member.", "error")
        else:
            try:
                if new_role != user.role:
                    accounts.change_role(user, new_role)
                if form.new_password.data:
                    accounts.change_password(user, form.new_password.data)
            except accounts.AccountError as exc:
                db.session.rollback()
                flash(str(exc), "error")
            else:
                db.session.commit()
                flash(f"Saved {user.name}.", "success")
                return redirect(url_for("team.edit_user", user_id=user.id))
    return render_template("team/user.html", user=user, form=form, action_form=EmptyForm())


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@role_required(Role.STAFF)
def set_active(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    activate = request.form.get("active") == "1"
    if user.id == current_user.id and not activate:
        flash("You cannot deactivate your own account.", "error")
    else:
        accounts.set_active(user, activate)
        db.session.commit()
        flash(
            f"{user.name} {'can sign in again' if activate else 'is deactivated and signed out'}.",
            "success",
        )
    return redirect(url_for("team.edit_user", user_id=user.id))


def _campaign_choices() -> list[SelectChoice]:
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.name))
    return [SelectChoice(0, "— none —")] + [
        SelectChoice(c.id, f"{c.name} ({c.status.value})") for c in campaigns
    ]


@bp.route("/invites", methods=["GET", "POST"])
@role_required(Role.STAFF)
def invites():
    form = InviteForm()
    form.campaign_id.choices = _campaign_choices()
    if request.method == "GET" and form.expires_in_days.data is None:
        form.expires_in_days.data = current_app.config["INVITE_DEFAULT_DAYS"]
    if form.validate_on_submit():
        try:
            invite = accounts.create_invite(
                current_user,
                role=Role(form.role.data),
                campaign_id=form.campaign_id.data or None,
                expires_in_days=form.expires_in_days.data,
                max_uses=form.max_uses.data,
                note=form.note.data,
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("Invite link created. Copy it from the list below.", "success")
            return redirect(url_for("team.invites", created=invite.id))
    listed = list(
        db.session.scalars(select(Invite).order_by(Invite.created_at.desc(), Invite.id.desc()))
    )
    return render_template(
        "team/invites.html",
        form=form,
        invites=listed,
        created=request.args.get("created", type=int),
        action_form=EmptyForm(),
    )


@bp.route("/invites/<int:invite_id>/revoke", methods=["POST"])
@role_required(Role.STAFF)
def revoke_invite(invite_id: int):
    invite = db.session.get(Invite, invite_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    accounts.revoke_invite(invite)
    db.session.commit()
    flash("Invite link withdrawn; it can no longer be used.", "success")
    return redirect(url_for("team.invites"))
