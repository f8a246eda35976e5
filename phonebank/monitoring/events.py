"""Socket.IO for dashboards: ``dashboard.watch`` returns a snapshot and joins the room.

Pushes to ``dashboard:<campaign id>``: ``dashboard.volunteer`` rows, queued with each
``session.state`` (calling/services.py) and emitted after commit; ``dashboard.figures``, from
the loop below in whichever process saw the change, at most every FIGURES_INTERVAL seconds.
Either is emitted once (through Redis when there are several processes), whatever the number of
dashboards watching. After a reconnect the page watches again and replaces its state.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime

from flask import Flask, current_app
from flask_login import current_user
from flask_socketio import join_room, leave_room
from sqlalchemy import select

from phonebank import background
from phonebank.calling import protocol
from phonebank.calling import services as calling
from phonebank.calling.protocol import Notice
from phonebank.calling.runner import hang_up_calls
from phonebank.extensions import db, socket_handler, socketio
from phonebank.models import Campaign, MonitorLeg, MonitorMode, Role
from phonebank.monitoring import services
from phonebank.telephony.provider import TelephonyError, get_provider

log = logging.getLogger(__name__)
FIGURES_INTERVAL = 2.0


@socket_handler("dashboard.watch")
def watch(data=None):
    if not current_user.is_authenticated:
        return {"ok": False, "error": "Sign in first."}
    try:
        campaign_id = protocol.parse("dashboard.watch", data)["campaign_id"]
    except protocol.PayloadError as exc:
        return {"ok": False, "error": str(exc)}
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not services.can_monitor(current_user, campaign.id):
        db.session.rollback()
        return {"ok": False, "error": "You can't monitor that campaign."}
    join_room(services.dashboard_room(campaign.id))
    snapshot = services.dashboard_snapshot(campaign)
    db.session.rollback()
    return {"ok": True, "state": snapshot}


@socket_handler("dashboard.unwatch")
def unwatch(data=None):
    if not current_user.is_authenticated:
        return {"ok": False, "error": "Sign in first."}
    try:
        campaign_id = protocol.parse("dashboard.unwatch", data)["campaign_id"]
    except protocol.PayloadError as exc:
        return {"ok": False, "error": str(exc)}
    leave_room(services.dashboard_room(campaign_id))
    return {"ok": True}


def figures_forever(app: Flask) -> None:
    """Every FIGURES_INTERVAL, push fresh figures to the dashboards of campaigns that changed
    in this process (started with the process by ``phonebank.background``)."""
    while True:
        socketio.sleep(FIGURES_INTERVAL)
        campaign_ids = services.take_dirty()
        if not campaign_ids:
            continue
        background.one_pass(app, "dashboard figures", push_figures, campaign_ids)


def push_figures(campaign_ids: list[int]) -> None:
    now = datetime.now(UTC)
    for campaign_id in campaign_ids:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is None:
            continue
        figures = services.campaign_figures(campaign, now)
        socketio.emit(
            "dashboard.figures",
            {"campaign_id": campaign_id, "figures": figures},
            to=services.dashboard_room(campaign_id),
        )
    db.session.rollback()


# --- stepping in ---------------------------------------------------------------------------


def lead_event(name: str):
    """Register a lead's action on one volunteer's session: checked, locked, errors replied."""

    def decorator(fn):
        @functools.wraps(fn)
        def handler(data=None):
            if not current_user.is_authenticated or not current_user.has_role(Role.LEAD):
                return {"ok": False, "error": "Only leads and staff can do that."}
            try:
                data = protocol.parse(name, data)
            except protocol.PayloadError as exc:
                return {"ok": False, "error": str(exc)}
            session = calling.lock_session(data["session_id"])
            if session is None or not services.can_monitor(current_user, session.campaign_id):
                db.session.rollback()
                return {"ok": False, "error": "You can't monitor this volunteer."}
            try:
                return fn(session, data)
            except (calling.CallingError, TelephonyError) as exc:
                db.session.rollback()
                return {"ok": False, "error": str(exc)}

        return socket_handler(name)(handler)

    return decorator


def _done(session) -> dict:
    calling.publish_session_state(session)
    db.session.commit()
    return {"ok": True}


@lead_event("lead.message")
def on_message(session, data):
    """A message shown on the volunteer's page (and lowering their raised hand)."""
    text = " ".join(data["text"].split())[:500]
    if not text:
        raise calling.CallingError("Write a message first.")
    calling.require_open(session)
    session.notice = {"reason": Notice.LEAD_MESSAGE, "message": f"{current_user.name}: {text}"}
    session.hand_raised_at = None
    return _done(session)


@lead_event("lead.pause")
def on_pause(session, data):
    """The volunteer gets no next voter until they press Ready again (a call goes on)."""
    calling.set_ready(session, False)
    session.notice = {"reason": Notice.PAUSED_BY_LEAD, "message": f"Paused by {current_user.name}."}
    return _done(session)


@lead_event("lead.end_session")
def on_end_session(session, data):
    hang_ups = calling.end_session(session, reason="lead")
    result = _done(session)
    hang_up_calls(hang_ups)
    return result


@lead_event("monitor.join")
def on_monitor_join(session, data):
    """A token for the lead's browser audio; the page then connects with the session's id."""
    calling.require_open(session)
    if not session.audio_up:
        raise calling.CallingError("This volunteer's audio is not connected.")
    db.session.rollback()
    ttl = int(current_app.config["ACCESS_TOKEN_TTL_SECONDS"])
    provider = get_provider()
    return {
        "ok": True,
        "audio": {
            "token": provider.access_token(f"lead-{current_user.id}", ttl),
            "ttl_seconds": ttl,
            "emulator_url": provider.emulator_url if provider.emulated else None,
        },
    }


def _open_leg(session) -> MonitorLeg | None:
    return db.session.scalar(
        select(MonitorLeg)
        .where(
            MonitorLeg.session_id == session.id,
            MonitorLeg.lead_id == current_user.id,
            MonitorLeg.ended_at.is_(None),
        )
        .order_by(MonitorLeg.id.desc())
        .limit(1)
    )


@lead_event("monitor.mode")
def on_monitor_mode(session, data):
    """Switch between listen, whisper and barge without dropping the lead's audio."""
    mode = data["mode"]
    leg = _open_leg(session)
    if leg is None or not leg.call_sid:
        raise calling.CallingError("You are not connected to this volunteer's call.")
    get_provider().set_monitor_mode(
        session.conference_name, leg.call_sid, mode, session.audio_call_sid or ""
    )
    leg.mode = MonitorMode(mode)
    db.session.commit()
    return {"ok": True, "mode": mode}


@lead_event("monitor.stop")
def on_monitor_stop(session, data):
    leg = _open_leg(session)
    sids = []
    if leg is not None:
        leg.ended_at = datetime.now(UTC)
        sids = [leg.call_sid] if leg.call_sid else []
    db.session.commit()
    hang_up_calls(sids)
    return {"ok": True}
