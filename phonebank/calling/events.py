"""Socket.IO events of the volunteer's calling page (docs/protocol.md).

Sent by the calling page's script; every handler answers through the acknowledgement with
``{"ok": true, "state": <snapshot>}`` or ``{"ok": false, "error": "<message>"}``. The state is
also pushed as ``session.state`` to the volunteer's room after every change, from whichever
process made it.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from flask import current_app
from flask_login import current_user
from flask_socketio import join_room

from phonebank import realtime
from phonebank.calling import protocol, services
from phonebank.calling.runner import (
    advance_session,
    end_dead_call,
    hang_up_calls,
    reconcile_later,
)
from phonebank.calling.state import campaign_form, session_snapshot
from phonebank.extensions import db, socket_handler
from phonebank.models import AudioMode, Campaign, utcnow
from phonebank.telephony.provider import TelephonyError, get_provider
from phonebank.twilio_hooks.urls import volunteer_phone_urls

log = logging.getLogger(__name__)


def calling_event(name: str):
    """Register a handler: authenticated, errors become ``{"ok": false}`` replies."""

    def decorator(fn):
        @functools.wraps(fn)
        def handler(data=None):
            if not current_user.is_authenticated:
                return {"ok": False, "error": "Sign in first."}
            try:
                return fn(protocol.parse(name, data))
            except (protocol.PayloadError, services.CallingError, TelephonyError) as exc:
                db.session.rollback()
                return {"ok": False, "error": str(exc)}

        return socket_handler(name)(handler)

    return decorator


def current_session():
    """The volunteer's open session, marked as seen.

    The mark is committed at once: a handler must not hold the session row's lock while it
    goes on to lock a call row, because webhooks lock the call first and then the session.
    """
    session = services.open_session_for(current_user)
    if session is None:
        raise services.CallingError("Join a campaign first.")
    session.last_seen_at = utcnow()
    db.session.commit()
    return session


def locked_current_session():
    """The volunteer's session, locked for a change of voter or call (see lock_session)."""
    return services.lock_session(current_session().id)


def reply(session) -> dict:
    return {"ok": True, "state": session_snapshot(session)}


def commit_and_advance(session) -> dict:
    """Publish the change, commit, give a ready volunteer their next voter, and reply."""
    services.publish_session_state(session)
    db.session.commit()
    advance_session(session.id)
    return reply(db.session.get(services.CallingSession, session.id))


@calling_event("session.join")
def on_join(data):
    """The calling page opens: start or resume the session; reply with state and the form."""
    campaign = db.session.get(Campaign, data["campaign_id"])
    if campaign is None:
        raise services.CallingError("That campaign does not exist.")
    session = services.join_campaign(current_user, campaign)
    services.publish_session_state(session)
    db.session.commit()
    join_room(realtime.campaign_room(campaign.id))
    form = campaign_form(campaign)
    form["skip_reasons"] = services.SKIP_REASONS
    return {**reply(session), "form": form}


@calling_event("session.resume")
def on_resume(data):
    """A reconnected page asks for the whole state again; a call still in hand is checked
    with the provider (news of it may have been lost while the page was away)."""
    session = current_session()
    join_room(realtime.campaign_room(session.campaign_id))
    call_id = session.current_call_id
    db.session.commit()
    if call_id is not None:
        reconcile_later(current_app._get_current_object(), call_id)
    return reply(session)


@calling_event("audio.connect")
def on_audio_connect(data):
    """Browser audio: a Voice SDK access token. Phone audio: Twilio calls the volunteer."""
    session = current_session()
    services.require_open(session)
    mode = AudioMode(data["mode"])
    provider = get_provider()
    if mode == AudioMode.BROWSER:
        session.audio_mode = mode
        services.expect_browser_leg(session)
        db.session.commit()
        return {**reply(session), "audio": token_payload(provider)}
    if mode == AudioMode.PHONE:
        if not current_user.phone:
            raise services.CallingError("Add your phone number to your account first.")
        replaced = session.audio_call_sid  # a browser leg gives way to the phone
        session.audio_mode = mode
        session.audio_up = False
        session.audio_call_sid = None
        session.audio_pending_sid = None
        campaign = session.campaign
        caller_id = campaign.caller_id or current_app.config.get("TWILIO_CALLER_ID") or ""
        db.session.commit()
        if replaced:
            hang_up_calls([replaced])
        provider.expect_volunteer_answer(current_user.phone)
        urls = volunteer_phone_urls(session.id)
        sid = provider.dial(
            to=current_user.phone,
            from_=caller_id,
            answer_url=urls.answer_url,
            status_url=urls.status_url,
            amd_url=None,
            timeout=30,
            fallback_url=urls.fallback_url,
        )
        session.audio_call_sid = sid
        db.session.commit()
        return reply(session)
    raise services.CallingError("Manual campaigns need no audio connection.")


def token_payload(provider) -> dict:
    ttl = int(current_app.config["ACCESS_TOKEN_TTL_SECONDS"])
    return {
        "token": provider.access_token(f"volunteer-{current_user.id}", ttl),
        "ttl_seconds": ttl,
        "emulator_url": provider.emulator_url if provider.emulated else None,
    }


@calling_event("audio.token")
def on_audio_token(data):
    """The page refreshes its access token before it expires."""
    current_session()
    db.session.commit()
    return {"ok": True, "audio": token_payload(get_provider())}


@calling_event("volunteer.ready")
def on_ready(data):
    """Ready (true) for the next voter, or pause (false) after the current one."""
    session = locked_current_session()
    services.set_ready(session, data["ready"])
    return commit_and_advance(session)


@calling_event("volunteer.raise_hand")
def on_raise_hand(data):
    """Ask the campaign's leads for help (shown on their dashboard), or take it back."""
    session = locked_current_session()
    services.require_open(session)
    session.hand_raised_at = utcnow() if data["raised"] else None
    services.publish_session_state(session)
    db.session.commit()
    return reply(session)


@calling_event("call.dial")
def on_dial(data):
    """Preview mode: the volunteer clicks Call. Manual mode: reveals the number."""
    session = locked_current_session()
    call = services.prepare_call(session)
    if call is None:  # the person can no longer be called: on to the next one
        return commit_and_advance(session)
    services.publish_session_state(session)
    db.session.commit()
    services.place_call(call.id)
    return reply(db.session.get(services.CallingSession, session.id))


@calling_event("call.hangup")
def on_hangup(data):
    session = current_session()
    call_id = session.current_call_id
    sid = services.hang_up(session)
    services.publish_session_state(session)
    db.session.commit()
    if sid and hang_up_calls([sid]):
        end_dead_call(call_id)  # already over: its final callback was lost
    return reply(db.session.get(services.CallingSession, session.id))


@calling_event("outcome.draft")
def on_draft(data):
    """The half-filled form, kept so a reconnecting page can restore it."""
    session = current_session()
    if session.current_call_id is None or data["call_id"] != session.current_call_id:
        raise services.CallingError("That call is not in your hands any more.")
    draft = {
        "call_id": session.current_call_id,
        "outcome": data["outcome"],
        "answers": data["answers"],
        "notes": data["notes"],
        "callback_at": data["callback_at"],
    }
    session.draft = draft
    db.session.commit()
    return {"ok": True}


@calling_event("outcome.submit")
def on_submit(data):
    """Record the outcome with answers and notes (idempotent by ``submission_id``)."""
    session = current_session()
    callback_at = None
    if data["callback_at"]:
        try:
            callback_at = datetime.fromisoformat(data["callback_at"])
        except ValueError:
            raise services.OutcomeError("The call-back time is not a valid date.") from None
        if callback_at.tzinfo is None:
            raise services.OutcomeError("The call-back time needs a time zone.")
    call, written, hang_up_sid = services.submit_outcome(
        session,
        call_id=data["call_id"],
        outcome_code=data["outcome"],
        answers=data["answers"],
        notes=data["notes"],
        submission_id=data["submission_id"],
        callback_at=callback_at,
    )
    services.publish_session_state(session)
    db.session.commit()
    if hang_up_sid and hang_up_calls([hang_up_sid]):
        end_dead_call(call.id)  # already over: its final callback was lost
    advance_session(session.id)
    result = reply(db.session.get(services.CallingSession, session.id))
    result["recorded"] = {"call_id": call.id, "duplicate": not written}
    return result


@calling_event("voter.skip")
def on_skip(data):
    session = locked_current_session()
    services.skip_voter(session, data["reason"])
    return commit_and_advance(session)


@calling_event("session.end")
def on_end(data):
    session = locked_current_session()
    hang_ups = services.end_session(session)
    services.publish_session_state(session)
    db.session.commit()
    hang_up_calls(hang_ups)
    return reply(session)
