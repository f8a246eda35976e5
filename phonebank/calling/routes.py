"""The volunteer's calling pages."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from phonebank.calling import services
from phonebank.campaigns import services as campaigns
from phonebank.extensions import db
from phonebank.models import Campaign, CampaignStatus
from phonebank.telephony.provider import get_provider

bp = Blueprint("calling", __name__, url_prefix="/calling")


@bp.route("/")
@login_required
def index():
    """Campaigns this person can call for now, and the session they have open, if any."""
    return render_template(
        "calling/index.html",
        campaigns=campaigns.campaigns_open_to(current_user),
        open_session=services.open_session_for(current_user),
    )


@bp.route("/<int:campaign_id>")
@login_required
def page(campaign_id: int):
    campaign = db.session.get(Campaign, campaign_id) or abort(404)
    if not campaigns.can_call_for(current_user, campaign):
        abort(403, "You have not been added to this campaign.")
    if campaign.status != CampaignStatus.ACTIVE:
        abort(409, "This campaign is not open for calling right now.")
    provider = get_provider()
    return render_template(
        "calling/page.html",
        campaign=campaign,
        emulated=provider.emulated,
        has_phone=bool(current_user.phone),
    )
