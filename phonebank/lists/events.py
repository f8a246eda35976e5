"""Socket.IO for the list page: ``list.watch`` joins a list's room; progress is pushed.

Each web process runs a small watcher while any of its browsers watches an import: it reads the
job's progress file and pushes ``list.progress`` to its own browsers only (``ignore_queue``),
so several processes behind a Redis queue never send the same update twice. When the import
ends it pushes ``list.finished``. After a reconnect the page watches again and gets the
current state in the reply, so no change is missed.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from flask_login import current_user
from flask_socketio import join_room

from phonebank import background
from phonebank.calling import protocol
from phonebank.extensions import db, socket_handler, socketio
from phonebank.lists import services
from phonebank.models import PeopleList, Role

log = logging.getLogger(__name__)
WATCH_INTERVAL = 0.5
_watched: dict[int, str] = {}  # list id -> last status pushed, in this process
_lock = threading.Lock()


@socket_handler("list.watch")
def watch(data=None):
    if not current_user.is_authenticated or not current_user.has_role(Role.STAFF):
        return {"ok": False, "error": "Only staff can watch list imports."}
    try:
        list_id = protocol.parse("list.watch", data)["list_id"]
    except protocol.PayloadError as exc:
        return {"ok": False, "error": str(exc)}
    plist = db.session.get(PeopleList, list_id)
    if plist is None:
        return {"ok": False, "error": "There is no such list."}
    join_room(f"list:{list_id}")
    payload = services.status_payload(plist)
    db.session.rollback()
    with _lock:
        _watched[list_id] = payload["status"]
    return {"ok": True, "state": payload}


def watch_forever(app: Flask) -> None:
    """Push progress to the lists being watched here; now and then, recover imports whose
    worker died (started with the process by ``phonebank.background``)."""
    ticks = 0
    while True:
        socketio.sleep(WATCH_INTERVAL)
        ticks += 1
        with _lock:
            ids = list(_watched)
        if not ids:
            continue
        background.one_pass(app, "list watcher", _watch_pass, ids, ticks % 20 == 0)


def _watch_pass(ids: list[int], recover: bool) -> None:
    if recover:
        services.recover_stale()
    _push(ids)


def _push(ids: list[int]) -> None:
    for plist in db.session.query(PeopleList).filter(PeopleList.id.in_(ids)):
        payload = services.status_payload(plist)
        room = f"list:{plist.id}"
        if plist.finished:
            socketio.emit("list.finished", payload, to=room, ignore_queue=True)
            with _lock:
                _watched.pop(plist.id, None)
        else:
            socketio.emit("list.progress", payload, to=room, ignore_queue=True)
