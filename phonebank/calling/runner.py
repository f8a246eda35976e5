"""Moving sessions along and keeping the queue honest, outside any one request.

``advance_session`` gives a free, ready volunteer their next voter (and dials in power mode).
The sweeper, one greenlet per web process, returns expired claims to the queue, reconciles calls
whose final callback never came by asking the provider, and ends abandoned sessions.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import select

from phonebank.calling import queue, services
from phonebank.extensions import db, socketio
from phonebank.models import (
    FINAL_CALL_STATUSES,
    Call,
    CallingSession,
    CallStatus,
    SocketConnection,
    utcnow,
)
from phonebank.telephony.provider import TelephonyError, get_provider

log = logging.getLogger(__name__)


def advance_session(session_id: int) -> None:
    """Claim the next voter for a ready volunteer with nothing in hand; dial in power mode."""
    session = services.lock_session(session_id)
    if session is None or session.ended_at is not None or not session.ready:
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
            session.notice = {"reason": "error", "message": str(exc)}
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


def hang_up_calls(sids: list[str]) -> None:
    provider = get_provider()
    for sid in sids:
        try:
            provider.hang_up(sid)
        except TelephonyError:
            log.warning("could not hang up %s", sid)


# --- the sweeper ---------------------------------------------------------------------------

_started: set[int] = set()
_lock = threading.Lock()


def start_sweeper(app: Flask) -> None:
    """Start this process's sweeper once (on the first calling event it serves)."""
    with _lock:
        if id(app) in _started:
            return
        _started.add(id(app))
    socketio.start_background_task(_sweep_forever, app)


def _sweep_forever(app: Flask) -> None:
    interval = int(app.config["SWEEP_INTERVAL_SECONDS"])
    while True:
        socketio.sleep(interval)
        with app.app_context():
            try:
                sweep()
            except Exception:
                log.exception("sweep failed")
                db.session.rollback()


def sweep() -> dict[str, int]:
    """One pass: expired claims, lost callbacks, half-placed calls, abandoned sessions."""
    now = utcnow()
    released = queue.release_expired_claims(now)
    db.session.commit()
    reconciled = reconcile_calls(now)
    ended = end_abandoned_sessions(now)
    advanced = advance_waiting_sessions()
    return {
        "released": released,
        "reconciled": reconciled,
        "ended_sessions": ended,
        "advanced": advanced,
    }


def advance_waiting_sessions(limit: int = 200) -> int:
    """Ready volunteers with nobody in hand try again: people come back to the queue when
    retries fall due, calling hours open, or a claim elsewhere is released."""
    ids = list(
        db.session.scalars(
            select(CallingSession.id)
            .where(
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
    """Ask the provider about calls that should have finished by now."""
    config = current_app.config
    ring_limit = now - timedelta(seconds=int(config["RING_TIMEOUT_SECONDS"]) + 60)
    talk_limit = now - timedelta(seconds=int(config["RECONCILE_TALKING_AFTER_SECONDS"]))
    pending = [CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING]
    calls = db.session.scalars(
        select(Call)
        .where(
            Call.manual.is_(False),
            Call.status.not_in(FINAL_CALL_STATUSES),
            (
                (Call.status.in_(pending) & (Call.dialed_at < ring_limit))
                | ((Call.status == CallStatus.IN_PROGRESS) & (Call.answered_at < talk_limit))
                | ((Call.status == CallStatus.CREATED) & (Call.created_at < ring_limit))
            ),
        )
        .limit(100)
    ).all()
    done = 0
    for call in calls:
        call_id, sid = call.id, call.provider_sid
        db.session.commit()
        if sid is None:
            # The process stopped between writing the call and dialing: nothing was placed.
            services.dial_failed(call_id, "The call was not placed; please try again.")
            db.session.commit()
            done += 1
            continue
        try:
            remote = get_provider().fetch(sid)
        except TelephonyError:
            continue
        try:
            status = CallStatus(remote.status)
        except ValueError:
            log.warning("provider reports unknown status %r for %s", remote.status, sid)
            continue
        if not status.final:
            continue
        call = services.locked_call(call_id)
        if remote.answered_by and call.answered_by is None:
            call.answered_by = remote.answered_by
        services.finalize_call(call, status, sequence=None, duration=remote.duration)
        session_id = call.session_id
        db.session.commit()
        if session_id:
            advance_session(session_id)
        done += 1
    return done


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
    for session in sessions:
        call = session.current_call
        if call is not None and not call.status.final:
            continue  # never cut a live call short; the next sweep looks again
        hang_ups = services.end_session(session, reason="abandoned")
        services.publish_session_state(session)
        db.session.commit()
        hang_up_calls(hang_ups)
        count += 1
    return count
