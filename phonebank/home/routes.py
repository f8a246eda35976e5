"""The home page: one per role."""

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required

from phonebank.home import services
from phonebank.models import Role
from phonebank.results.services import volunteer_own_line

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    campaigns = services.campaigns_for(current_user)
    if current_user.has_role(Role.STAFF):
        return render_template(
            "home/staff.html",
            campaigns=campaigns,
            figures=services.staff_figures(),
            sign_ups=services.recent_sign_ups(),
        )
    if current_user.has_role(Role.LEAD):
        return render_template(
            "home/lead.html", campaigns=campaigns, team=services.team_for_lead(current_user)
        )
    return render_template(
        "home/volunteer.html",
        campaigns=campaigns,
        mine=volunteer_own_line(current_user, current_app.config["TIME_ZONE"]),
    )


@bp.route("/healthz")
def healthz():
    """Load balancer health check; touches nothing."""
    return {"ok": True}
