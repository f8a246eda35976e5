"""The leads' pages: the campaigns they run, and a live dashboard per campaign."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from phonebank.extensions import db
from phonebank.models import Campaign, Role
from phonebank.monitoring import services
from phonebank.telephony.provider import get_provider

bp = Blueprint("monitoring", __name__, url_prefix="/monitor")


@bp.before_request
@login_required
def leads_only():
    if not (current_user.has_role(Role.LEAD) or current_user.has_role(Role.STAFF)):
        abort(403)


@bp.get("")
def index():
    return render_template(
        "monitoring/index.html", campaigns=services.monitored_campaigns(current_user)
    )


@bp.get("/<int:campaign_id>")
def dashboard(campaign_id: int):
    campaign = db.session.get(Campaign, campaign_id) or abort(404)
    if not services.can_monitor(current_user, campaign.id):
        abort(403)
    return render_template(
        "monitoring/dashboard.html", campaign=campaign, emulated=get_provider().emulated
    )
