"""Socket.IO connect and disconnect: who may open a socket, and which rooms it starts in.

Sent by every page's script on load. Anonymous handshakes are refused; cross-origin ones are
refused earlier by python-engineio (see ``hosts.allowed_origins``).
"""

from __future__ import annotations

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room
from sqlalchemy import delete, func, select

from phonebank import background, realtime
from phonebank.extensions import db, socket_handler
from phonebank.models import SocketConnection


@socket_handler("connect")
def on_connect(auth=None):
    """A browser opens its socket; it joins its user and login rooms, or is refused."""
    if not current_user.is_authenticated:
        raise ConnectionRefusedError("Sign in first.")
    login = current_user.current_login
    db.session.add(
        SocketConnection(
            sid=request.sid,
            login_session_id=login.id,
            user_id=login.user_id,
            process=background.process_id(),
        )
    )
    db.session.flush()
    _tell_dashboards(current_user.id, connected=True)
    db.session.commit()
    join_room(realtime.user_room(current_user.id))
    join_room(realtime.login_room(login.id))
    return True


@socket_handler("disconnect")
def on_disconnect(reason=None):
    db.session.execute(delete(SocketConnection).where(SocketConnection.sid == request.sid))
    if current_user.is_authenticated:
        _tell_dashboards(current_user.id)
    db.session.commit()


def _tell_dashboards(user_id: int, connected: bool = False) -> None:
    """A volunteer's first socket opened or last one closed: their dashboard row changes
    between "disconnected" and their calling state."""
    from phonebank.models import CallingSession
    from phonebank.monitoring.services import publish_volunteer

    count = db.session.scalar(
        select(func.count())
        .select_from(SocketConnection)
        .where(SocketConnection.user_id == user_id)
    )
    if count != (1 if connected else 0):
        return
    session = db.session.scalar(
        select(CallingSession).where(
            CallingSession.user_id == user_id, CallingSession.ended_at.is_(None)
        )
    )
    if session is not None:
        publish_volunteer(session)
