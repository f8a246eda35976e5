"""Moving sessions along and keeping the queue honest, outside any one request.

``advance_session`` gives a free, ready volunteer their next voter (and dials in power mode).
The sweeper, one greenlet per web process, returns expired claims to the queue, reconciles calls
whose final callback never came by asking the provider, and ends abandoned sessions.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import select

from phonebank import background
from phonebank.calling import queue, services
from phonebank.calling.protocol import Notice
from phonebank.extensions import db, socketio
from phonebank.models import (
    FINAL_CALL_STATUSES,
    Call,
    CallingSession,
    CallStatus,
    Campaign,
    CampaignTarget,
    SocketConnection,
    TargetStatus,
    utcnow,
)
from phonebank.telephony.provider import ProviderCall, TelephonyError, UnknownCall, get_provider

log = logging.getLogger(__name__)


def advance_session(session_id: int) -> None:
    """Claim the next voter for a ready volunteer with nothing in hand; dial in power mode."""
    session = services.lock_session(session_id)
    if session is None or session.ended_at is not None or not session.ready:
        db.session.commit()
        return
    if session.current_target_id is None and not services.is_present(session):
        # Their browser has gone (or its process died): nobody is claimed or dialed for them;
        # they get a voter when they come back, or their session ends as abandoned.
        db.session.commit()
        return
    call = None
    before = (session.current_target_id, dict(session.notice or {}))
    if session.current_target_id is None:
        services.present_next_voter(session)
    if services.should_autodial(session):
        try:
            call = services.prepare_call(session)
        except services.CallingError as exc:
            session.notice = {"reason": Notice.ERROR, "message": str(exc)}
    if call is not None or (session.current_target_id, session.notice) != before:
        services.publish_session_state(session)
    db.session.commit()
    if call is not None:
        services.place_call(call.id)


def advance_later(app: Flask, session_id: int) -> None:
    """Advance a session from a webhook, without holding up Twilio's request."""

    def run():
        with app.app_context():
            try:
                advance_session(session_id)
            except Exception:
                log.exception("could not advance session %s", session_id)
                db.session.rollback()

    socketio.start_background_task(run)


def reconcile_later(app: Flask, call_id: int) -> None:
    """Ask the provider about a call in the background (a volunteer came back to it after a
    reconnect: its callbacks may have gone to a process that died)."""

    def run():
        with app.app_context():
            try:
                reconcile_if_live(call_id)
            except Exception:
                log.exception("could not reconcile call %s", call_id)
                db.session.rollback()

    socketio.start_background_task(run)


def hang_up_calls(sids: list[str]) -> list[str]:
    """Hang these calls up; returns the SIDs the provider says were over already."""
    provider = get_provider()
    over = []
    for sid in sids:
        try:
            if not provider.hang_up(sid):
                over.append(sid)
        except TelephonyError:
            log.warning("could not hang up %s", sid)
    return over


def end_dead_call(call_id: int) -> None:
    """The provider says this call is over but its final callback never came: take the final
    status from the provider, or, failing that, end it here, so the volunteer is never stuck
    "talking" on a dead line. Commits."""
    if reconcile_call(call_id):
        return
    call = services.locked_call(call_id)
    if call is not None and not call.status.final:
        call.end_reason = call.end_reason or "over_at_provider"
        services.finalize_call(call, CallStatus.COMPLETED, sequence=None, duration=None)
    db.session.commit()


# --- the sweeper ---------------------------------------------------------------------------


def sweep_forever(app: Flask) -> None:
    """The sweeper, one per web process, started with it (``phonebank.background``): a first
    pass at once, so a restarted process reconciles what its predecessor left, then one every
    ``SWEEP_INTERVAL_SECONDS``."""
    interval = int(app.config["SWEEP_INTERVAL_SECONDS"])
    while True:
        background.one_pass(app, "sweep", sweep)
        socketio.sleep(interval)


def sweep() -> dict[str, int]:
    """One pass: dead processes' sockets, expired claims, lost callbacks, half-placed calls,
    abandoned sessions, then ready volunteers waiting for a voter."""
    now = utcnow()
    forgotten = background.forget_dead_processes(now)
    queue.renew_present_claims(now)
    released = queue.release_expired_claims(now)
    db.session.commit()
    cleared = clear_lost_claims()
    reconciled = reconcile_calls(now)
    ended = end_abandoned_sessions(now)
    advanced = advance_waiting_sessions()
    return {
        "forgotten_connections": forgotten,
        "released": released,
        "cleared_cards": cleared,
        "reconciled": reconciled,
        "ended_sessions": ended,
        "advanced": advanced,
    }


def clear_lost_claims() -> int:
    """Cards showing a person whose claim has gone (expired, then released or taken by
    someone else) are cleared with an honest notice; a present, ready volunteer then gets the
    next voter from ``advance_waiting_sessions``. Commits."""
    stale = list(
        db.session.scalars(
            select(CallingSession.id)
            .join(CampaignTarget, CampaignTarget.id == CallingSession.current_target_id)
            .where(
                CallingSession.ended_at.is_(None),
                CallingSession.current_call_id.is_(None),
                (CampaignTarget.status != TargetStatus.CLAIMED)
                | (CampaignTarget.claimed_by_id != CallingSession.user_id),
            )
        )
    )
    db.session.commit()
    for session_id in stale:
        session = services.lock_session(session_id)
        target = session.current_target if session is not None else None
        if (
            target is not None
            and session.current_call_id is None
            and (target.status != TargetStatus.CLAIMED or target.claimed_by_id != session.user_id)
        ):
            session.current_target_id = None
            session.notice = {"reason": Notice.CLAIM_EXPIRED}
            services.touch(session)
            services.publish_session_state(session)
        db.session.commit()
    return len(stale)


def advance_waiting_sessions(limit: int = 200) -> int:
    """Ready volunteers with nobody in hand try again: people come back to the queue when
    retries fall due, calling hours open, or a claim elsewhere is released. Only volunteers
    who are there (``services.present``): nobody is claimed or dialed for an empty chair."""
    ids = list(
        db.session.scalars(
            select(CallingSession.id)
            .where(
                services.present(),
                CallingSession.ended_at.is_(None),
                CallingSession.ready.is_(True),
                CallingSession.current_target_id.is_(None),
                CallingSession.current_call_id.is_(None),
            )
            .order_by(CallingSession.state_since)
            .limit(limit)
        )
    )
    db.session.commit()
    for session_id in ids:
        advance_session(session_id)
    return len(ids)


def reconcile_calls(now) -> int:
    """Ask the provider about calls that should have finished by now, or been heard of: still
    ringing past the ring timeout, talking for longer than the check interval (asked again at
    most once per interval), or never confirmed as placed."""
    config = current_app.config
    ring_limit = now - timedelta(
        seconds=int(config["RING_TIMEOUT_SECONDS"])
        + int(config["RECONCILE_RINGING_MARGIN_SECONDS"])
    )
    talk_limit = now - timedelta(seconds=int(config["RECONCILE_TALKING_AFTER_SECONDS"]))
    # A dial whose answer never came: looked for again once Twilio has had time to act on it.
    unconfirmed = now - timedelta(seconds=max(5.0, 3 * float(config["TWILIO_TIMEOUT_SECONDS"])))
    pending = [CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING]
    ids = list(
        db.session.scalars(
            select(Call.id)
            .where(
                Call.manual.is_(False),
                Call.status.not_in(FINAL_CALL_STATUSES),
                (
                    (Call.status.in_(pending) & (Call.dialed_at < ring_limit))
                    | (
                        (Call.status == CallStatus.IN_PROGRESS)
                        & (Call.answered_at < talk_limit)
                        & ((Call.checked_at.is_(None)) | (Call.checked_at < talk_limit))
                    )
                    | ((Call.status == CallStatus.CREATED) & (Call.created_at < unconfirmed))
                ),
            )
            .order_by(Call.id)
            .limit(100)
        )
    )
    db.session.commit()
    return sum(1 for call_id in ids if reconcile_call(call_id))


def reconcile_call(call_id: int) -> bool:
    """Bring one call up to date from the provider's REST API (its callbacks were lost or are
    late); advance its volunteer if it ended. True if the call is now final. Commits."""
    call = db.session.get(Call, call_id, populate_existing=True)
    if call is None or call.status.final:
        db.session.commit()
        return False
    sid, number, created_at = call.provider_sid, call.phone.number, call.created_at
    caller_id = db.session.get(Campaign, call.campaign_id).caller_id or current_app.config.get(
        "TWILIO_CALLER_ID"
    )
    db.session.commit()
    try:
        if sid is None:
            # Never confirmed as placed (the dial's answer was lost, or the process stopped).
            if not services.find_placed_call(call_id, number, caller_id or "", created_at):
                services.dial_failed(call_id, "The call was not placed; please try again.")
                db.session.commit()
        else:
            try:
                remote = get_provider().fetch(sid)
            except UnknownCall:
                remote = ProviderCall(sid, CallStatus.CANCELED.value, None, None)
                services.note_unknown_at_provider(call_id)
            services.apply_provider_report(call_id, remote)
            db.session.commit()
    except TelephonyError:
        db.session.rollback()
        return False
    call = db.session.get(Call, call_id, populate_existing=True)
    final, session_id = call.status.final, call.session_id
    db.session.commit()
    if final and session_id:
        advance_session(session_id)
    return final


def reconcile_if_live(call_id: int) -> bool:
    """True if this call is over. A live call of a volunteer who has gone is asked about at
    the provider at once: its callbacks may have gone to a process that died."""
    call = db.session.get(Call, call_id, populate_existing=True)
    final = call is None or call.status.final
    placed = call is not None and call.provider_sid is not None
    db.session.commit()
    if final:
        return True
    # A dial still waiting for the provider's answer is left to ``reconcile_calls``.
    return placed and reconcile_call(call_id)


def end_abandoned_sessions(now) -> int:
    """Sessions whose volunteer has had no live connection for a while are ended."""
    limit = now - timedelta(seconds=int(current_app.config["SESSION_ABANDON_SECONDS"]))
    connected = select(SocketConnection.user_id)
    sessions = db.session.scalars(
        select(CallingSession).where(
            CallingSession.ended_at.is_(None),
            CallingSession.last_seen_at < limit,
            CallingSession.user_id.not_in(connected),
        )
    ).all()
    count = 0
    for session_id, call_id in [(s.id, s.current_call_id) for s in sessions]:
        db.session.commit()
        if call_id is not None and not reconcile_if_live(call_id):
            continue  # never cut a live call short; the next sweep looks again
        session = services.lock_session(session_id)
        if session is None or session.ended_at is not None:
            db.session.commit()
            continue
        hang_ups = services.end_session(session, reason="abandoned")
        services.publish_session_state(session)
        db.session.commit()
        hang_up_calls(hang_ups)
        count += 1
    return count
