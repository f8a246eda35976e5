"""The one place that emits Socket.IO events.

``publish`` queues an event on the database session; it is emitted only after that session
commits and dropped if it rolls back, so no client ever hears of a change that did not happen.
Rooms are named ``user:<id>``, ``login:<id>``, ``campaign:<id>`` (see docs/protocol.md).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from phonebank.extensions import db, socketio

log = logging.getLogger(__name__)

PENDING_KEY = "phonebank.pending_events"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def login_room(login_session_id: int) -> str:
    return f"login:{login_session_id}"


def campaign_room(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def publish(
    event_name: str,
    payload: dict[str, Any],
    room: str,
    session: Session | None = None,
    replace: bool = True,
):
    """Emit ``event_name`` to ``room`` once the current transaction commits.

    Full-state events replace an earlier pending one for the same room and name, so a
    transaction that changes a thing several times sends only its final state.
    """
    session = session or db.session()
    pending = session.info.setdefault(PENDING_KEY, [])
    if replace:
        pending[:] = [p for p in pending if not (p[0] == "emit" and p[1:4:2] == (event_name, room))]
    pending.append(("emit", event_name, payload, room))


def call_after_commit(fn, *args: Any, session: Session | None = None) -> None:
    """Run ``fn(*args)`` once the current transaction commits (dropped if it rolls back)."""
    session = session or db.session()
    session.info.setdefault(PENDING_KEY, []).append(("call", fn, args, None))


def disconnect_after_commit(sids: list[str], session: Session | None = None) -> None:
    """Disconnect these Socket.IO clients (in any web process) once the transaction commits."""
    session = session or db.session()
    pending = session.info.setdefault(PENDING_KEY, [])
    pending.extend(("disconnect", sid, None, None) for sid in sids)


@event.listens_for(Session, "after_commit")
def _flush_pending(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None) or ()
    sids = [name for kind, name, _, _ in pending if kind == "disconnect"]
    for kind, name, payload, room in pending:
        if kind == "call":
            try:
                name(*payload)
            except Exception:
                log.exception("after-commit call %s failed", name)
        if kind == "emit":
            try:
                socketio.emit(name, payload, to=room)
            except Exception:  # a realtime failure must never undo a committed change
                log.exception("could not emit %s to %s", name, room)
    if sids:
        # The disconnect handlers use the database, so they run outside this commit.
        socketio.start_background_task(_disconnect, sids)


def _disconnect(sids: list[str]) -> None:
    for sid in sids:
        try:
            socketio.server.disconnect(sid, namespace="/")
        except Exception:
            log.exception("could not disconnect socket %s", sid)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
