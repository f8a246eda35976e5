"""Sign in, sign out, join from an invite, change password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from phonebank.auth import services
from phonebank.auth.forms import ChangePasswordForm, LoginForm, SignUpForm
from phonebank.extensions import db, login_manager
from phonebank.supporters.services import SupporterError, normalize_phone

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(token: str):
    return services.load_login_session(token)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form is no open redirect."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("home.index")


def _sign_in(user) -> None:
    services.start_login_session(user, request.remote_addr, request.headers.get("User-Agent"))
    db.session.commit()
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data, form.password.data, request.remote_addr or "unknown"
            )
        except services.LoginThrottled as exc:
            db.session.commit()
            form.password.errors.append(str(exc))
            status = 429
        except services.AccountError as exc:
            db.session.commit()  # keep the failure on record for throttling
            form.password.errors.append(str(exc))
            status = 401
        else:
            _sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    services.log_out(current_user.current_login)
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/join/<token>", methods=["GET", "POST"])
def join(token: str):
    invite = services.find_invite(token)
    problem = "This invite link is not valid." if invite is None else invite.problem()
    if problem:
        return render_template("auth/invite_problem.html", problem=problem), 410
    if current_user.is_authenticated:
        flash("You are already signed in. Sign out first to create another account.", "info")
        return redirect(url_for("home.index"))
    form = SignUpForm()
    status = 200
    if form.validate_on_submit():
        try:
            phone = None
            if form.phone.data:
                try:
                    phone = normalize_phone(form.phone.data, current_app.config["DEFAULT_REGION"])
                except SupporterError as exc:
                    raise services.AccountError(f"That phone number looks wrong: {exc}.") from None
            user = services.sign_up_with_invite(
                token,
                services.SignUp(
                    name=form.name.data,
                    email=form.email.data,
                    password=form.password.data,
                    phone=phone,
                ),
            )
        except services.AccountError as exc:
            db.session.rollback()
            form.email.errors.append(str(exc))
            status = 400
        else:
            _sign_in(user)
            flash(f"Welcome to phonebank, {user.name}!", "success")
            return redirect(url_for("home.index"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/join.html", form=form, invite=invite), status


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not services.check_password(current_user, form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            try:
                services.change_password(
                    current_user, form.password.data, keep=current_user.current_login
                )
            except services.AccountError as exc:
                form.password.errors.append(str(exc))
            else:
                db.session.commit()
                flash("Password changed. Your other browsers have been signed out.", "success")
                return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form)
