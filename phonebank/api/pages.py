"""Staff pages for integrations: API keys (made, shown once, revoked), webhook subscriptions
(made, paused, resumed, replayed from a cursor) and the API's request log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from phonebank.api import keys, webhooks
from phonebank.auth.access import role_required
from phonebank.extensions import db
from phonebank.models import (
    ApiKey,
    ApiRequest,
    ApiScope,
    Campaign,
    ChangeEvent,
    Role,
    WebhookSubscription,
)
from phonebank.supporters import changes

bp = Blueprint("integrations", __name__, url_prefix="/integrations")


@bp.before_request
@role_required(Role.STAFF)
def staff_only():
    return None


@bp.get("")
def index():
    return render_template(
        "integrations/index.html", **_context_of_index(), new_token=None, new_secret=None
    )


@bp.post("/keys")
def create_key():
    campaign = request.form.get("campaign_id") or None
    try:
        key, token = keys.create_key(
            request.form.get("name", ""),
            request.form.getlist("scopes"),
            by=current_user,
            campaign_id=int(campaign) if campaign else None,
            rate_per_minute=int(request.form.get("rate_per_minute") or 600),
        )
    except (keys.KeyRefused, ValueError) as exc:
        db.session.rollback()
        flash(f"No key was made: {exc}", "error")
        return redirect(url_for("integrations.index"))
    db.session.commit()
    flash(f"Key “{key.name}” made. Copy it now: it is not shown again.", "success")
    return _shown_once(token=token)


@bp.post("/keys/<int:key_id>/revoke")
def revoke_key(key_id: int):
    key = db.session.get(ApiKey, key_id) or abort(404)
    keys.revoke_key(key)
    db.session.commit()
    flash(f"Key “{key.name}” revoked: it opens nothing from now on.", "success")
    return redirect(url_for("integrations.index"))


@bp.post("/webhooks")
def create_webhook():
    try:
        subscription = webhooks.create_subscription(
            request.form.get("name", ""),
            request.form.get("url", ""),
            request.form.getlist("event_types"),
            by=current_user,
        )
    except webhooks.SubscriptionRefused as exc:
        db.session.rollback()
        flash(f"No subscription was made: {exc}", "error")
        return redirect(url_for("integrations.index"))
    secret = subscription.secret
    db.session.commit()
    flash(
        f"Subscription “{subscription.name}” made; events from now on are sent to it. "
        "Copy its signing secret now: it is not shown again.",
        "success",
    )
    return _shown_once(secret=secret)


def _shown_once(token: str | None = None, secret: str | None = None):
    """The index page with a new key or secret on it, answered to the POST itself (never put
    in a URL or the session)."""
    page = render_template(
        "integrations/index.html", **_context_of_index(), new_token=token, new_secret=secret
    )
    return page, 200, {"Cache-Control": "no-store"}


def _context_of_index() -> dict:
    subscriptions = list(
        db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    )
    return {
        "keys": list(db.session.scalars(select(ApiKey).order_by(ApiKey.id.desc()))),
        "scopes": list(ApiScope),
        "organisation_scopes": keys.ORGANISATION_SCOPES,
        "campaigns": list(db.session.scalars(select(Campaign).order_by(Campaign.name))),
        "subscriptions": subscriptions,
        "behind": {
            s.id: db.session.scalar(
                select(func.count())
                .select_from(ChangeEvent)
                .where(ChangeEvent.position > s.delivered_position)
            )
            for s in subscriptions
        },
        "latest": changes.latest_position(),
        "event_types": changes.EVENT_TYPES,
        "requests": list(
            db.session.scalars(select(ApiRequest).order_by(ApiRequest.id.desc()).limit(50))
        ),
        "key_names": {k.id: k.name for k in db.session.scalars(select(ApiKey))},
    }


@bp.post("/webhooks/<int:subscription_id>/<action>")
def webhook_action(subscription_id: int, action: str):
    subscription = db.session.get(WebhookSubscription, subscription_id) or abort(404)
    if action == "pause":
        webhooks.pause(subscription)
        message = "paused: events wait for it until it is resumed"
    elif action == "resume":
        webhooks.resume(subscription)
        message = "resumed: delivery is tried again now"
    elif action == "replay":
        raw = request.form.get("position", "").strip()
        if not raw.isdigit():
            flash("Give the cursor to replay from (0 for the whole feed).", "error")
            return redirect(url_for("integrations.index"))
        webhooks.replay_from(subscription, int(raw))
        message = f"will be sent every event after {int(raw):,} again"
    elif action == "delete":
        db.session.delete(subscription)
        message = "deleted"
    else:
        abort(404)
    db.session.commit()
    flash(f"Subscription “{subscription.name}” {message}.", "success")
    return redirect(url_for("integrations.index"))
