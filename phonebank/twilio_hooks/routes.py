"""Twilio webhooks. Every route verifies ``X-Twilio-Signature`` against the URL phonebank gave
Twilio: the path and query at the configured public address (``twilio_hooks.urls``), whatever
host or proxy the request came through; a forged or unsigned request gets 403 and changes
nothing. Callbacks are idempotent and order-independent.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from phonebank.calling import services
from phonebank.calling.runner import advance_later, end_dead_call, hang_up_calls
from phonebank.extensions import csrf, db
from phonebank.hosts import public_url
from phonebank.models import CallingSession
from phonebank.telephony.provider import (
    TelephonyError,
    conference_twiml,
    get_provider,
    hangup_twiml,
    monitor_twiml,
)
from phonebank.twilio_hooks.urls import conference_status_url

log = logging.getLogger(__name__)
bp = Blueprint("twilio_hooks", __name__, url_prefix="/twilio")
csrf.exempt(bp)


def signed_by_twilio(view):
    """403 unless the request carries a valid Twilio signature for this URL and body."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        token = current_app.config.get("TWILIO_AUTH_TOKEN")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token or not signature:
            log.warning("unsigned webhook refused: %s", request.path)
            abort(403)
        if not RequestValidator(token).validate(signed_url(), request.form.to_dict(), signature):
            log.warning("webhook with a bad signature refused: %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def signed_url() -> str:
    """The URL Twilio signed: this request's path and query at phonebank's public address."""
    parts = urlsplit(request.url)
    return public_url(parts.path + (f"?{parts.query}" if parts.query else ""))


def twiml(xml: str) -> Response:
    return Response(xml, mimetype="text/xml")


def _int_arg(name: str) -> int:
    value = request.args.get(name, "")
    if not value.isdigit():
        abort(400)
    return int(value)


@bp.post("/voice/client")
@signed_by_twilio
def voice_client():
    """The TwiML App's voice URL: a browser (Voice SDK) leg asks which conference to join."""
    identity = request.form.get("From", "").removeprefix("client:")
    session_id = request.form.get("session_id", "")
    role, _, user_id = identity.partition("-")
    if role == "lead":
        return twiml(monitor_leg_twiml(user_id, request.form))
    session = db.session.get(CallingSession, int(session_id)) if session_id.isdigit() else None
    accepted = role == "volunteer" and services.accept_browser_leg(
        session, user_id, request.form.get("CallSid", "")
    )
    db.session.commit()
    if not accepted:
        return twiml(hangup_twiml("This calling session is not open. Please reload the page."))
    return twiml(
        conference_twiml(session.conference_name, status_url=conference_status_url(session.id))
    )


def monitor_leg_twiml(user_id: str, form) -> str:
    """A lead's browser joins a volunteer's conference to listen, whisper or barge."""
    from phonebank.models import MonitorLeg, MonitorMode, User
    from phonebank.monitoring.services import can_monitor

    lead = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    raw_session = form.get("monitor_session", "")
    session = db.session.get(CallingSession, int(raw_session)) if raw_session.isdigit() else None
    mode = form.get("mode", "listen")
    if (
        lead is None
        or session is None
        or mode not in MonitorMode.__members__.values()
        or not can_monitor(lead, session.campaign_id)
    ):
        return hangup_twiml("You can't monitor this volunteer.")
    if session.ended_at is not None or not session.audio_up or not session.audio_call_sid:
        return hangup_twiml("This volunteer is not connected to a call right now.")
    db.session.add(
        MonitorLeg(
            session_id=session.id,
            lead_id=lead.id,
            mode=MonitorMode(mode),
            call_sid=form.get("CallSid"),
        )
    )
    db.session.commit()
    return monitor_twiml(session.conference_name, mode, session.audio_call_sid)


@bp.post("/voice/volunteer")
@signed_by_twilio
def voice_volunteer():
    """The volunteer answered the call to their own phone: join their conference."""
    session = db.session.get(CallingSession, _int_arg("session"))
    accepted = services.accept_phone_leg(session, request.form.get("CallSid", ""))
    db.session.commit()
    if not accepted:
        return twiml(hangup_twiml("This calling session has ended."))
    return twiml(
        conference_twiml(session.conference_name, status_url=conference_status_url(session.id))
    )


@bp.post("/voice/voter")
@signed_by_twilio
def voice_voter():
    """A voter answered: join the volunteer's conference (AMD decides later if it was one)."""
    call = db.session.get(services.Call, _int_arg("call"))
    if call is None:
        return twiml(hangup_twiml())
    session = call.session
    if (
        call.status.final
        or session is None
        or session.ended_at is not None
        or session.current_call_id != call.id
    ):
        # Nobody is waiting for this person (the dial was given up for lost, or the volunteer
        # left): never put them in an empty conference, or in someone else's call.
        name = db.session.get(services.Campaign, call.campaign_id).name
        return twiml(hangup_twiml(f"Sorry, this call from {name} could not be connected."))
    return twiml(conference_twiml(session.conference_name))


FALLBACK_MESSAGES = {
    "voter": "Sorry, we could not connect you to a volunteer just now. "
    "We will try again another time. Thank you, and goodbye.",
    "volunteer": "Sorry, phonebank could not connect your phone just now. "
    "Please try again from the calling page in a moment.",
}


@bp.post("/voice/fallback")
@signed_by_twilio
def voice_fallback():
    """Twilio's fallback when a call's own TwiML failed: a polite goodbye, never "an
    application error has occurred". (The call's status callbacks still settle it.)"""
    leg = request.args.get("leg", "voter")
    log.warning(
        "TwiML fallback for a %s leg: Twilio reports %s at %s",
        leg,
        request.form.get("ErrorCode", "?"),
        request.form.get("ErrorUrl", "?"),
    )
    return twiml(hangup_twiml(FALLBACK_MESSAGES.get(leg, FALLBACK_MESSAGES["voter"])))


@bp.post("/status/voter")
@signed_by_twilio
def status_voter():
    """Call-progress callbacks for a voter's call (initiated, ringing, answered, completed)."""
    call = services.apply_status_callback(_int_arg("call"), request.form.to_dict())
    freed = (
        call is not None
        and call.status.final
        and call.session is not None
        and call.session.current_call_id is None
    )
    session_id = call.session_id if call is not None else None
    db.session.commit()
    if freed and session_id:
        advance_later(current_app._get_current_object(), session_id)
    return ("", 204)


@bp.post("/amd")
@signed_by_twilio
def amd_result():
    """Asynchronous answering-machine detection: on a machine, leave the message and move on."""
    call, redirect = services.apply_amd_result(
        _int_arg("call"), request.form.get("AnsweredBy", "unknown")
    )
    session_id = call.session_id if call is not None else None
    sid = call.provider_sid if call is not None else None
    db.session.commit()
    if redirect and sid:
        try:
            get_provider().redirect(sid, redirect)
        except TelephonyError:
            # (nothing was recorded as left: only the message's last step records that)
            if hang_up_calls([sid]) and call is not None:
                end_dead_call(call.id)  # already over: its final callback may be lost
    if redirect and session_id:
        advance_later(current_app._get_current_object(), session_id)
    return ("", 204)


@bp.post("/voice/voicemail-left")
@signed_by_twilio
def voicemail_left():
    """The voicemail message has played to its end (its last step): record it, hang up."""
    services.voicemail_played(_int_arg("call"))
    db.session.commit()
    return twiml(hangup_twiml())


@bp.post("/status/audio")
@signed_by_twilio
def status_audio():
    """Progress of the call to a volunteer's own phone (their audio leg)."""
    session = db.session.get(CallingSession, _int_arg("session"))
    if session is None:
        return ("", 204)
    status = request.form.get("CallStatus", "")
    sid = request.form.get("CallSid")
    if status in {"completed", "busy", "no-answer", "failed", "canceled"}:
        services.audio_call_ended(session, sid)
        db.session.commit()
    return ("", 204)


@bp.post("/conference")
@signed_by_twilio
def conference_event():
    """Conference events: the volunteer's audio leg joining or leaving their conference."""
    session = db.session.get(CallingSession, _int_arg("session"))
    event = request.form.get("StatusCallbackEvent", "")
    sid = request.form.get("CallSid")
    if session is None or event not in {"participant-join", "participant-leave"}:
        return ("", 204)
    joined = event == "participant-join"
    replaced = services.audio_leg_event(session, sid or "", joined)
    up = session.audio_up and sid == session.audio_call_sid
    db.session.commit()
    if replaced:
        hang_up_calls(replaced)
    if joined and up and session.ready:
        advance_later(current_app._get_current_object(), session.id)
    return ("", 204)
