"""Work a web process does on its own, outside any request, started once with the process.

``start(app)`` (from the factory, when the WSGI entry point asks for it) spawns:

- the heartbeat: this process's row in ``web_processes``, renewed every third of
  ``PHONEBANK_PROCESS_DEAD_SECONDS``, so the others can tell it is alive;
- the calling sweeper (``calling.runner.sweep_forever``), which also forgets dead processes;
- the dashboards' figures push (``monitoring.events.figures_forever``);
- the list-import watcher (``lists.events.watch_forever``).

A process that stops beating (killed, frozen, its machine gone) is dead once its beat is older
than ``PHONEBANK_PROCESS_DEAD_SECONDS``: any live process's sweeper then deletes its socket
connections, so its volunteers count as gone, their sessions are ended as abandoned and their
claims go back to the queue; the process row goes with them.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError

from phonebank.extensions import db, socketio
from phonebank.models import SocketConnection, WebProcess, utcnow

log = logging.getLogger(__name__)
_ids: dict[int, str] = {}
_started: set[int] = set()


def process_id() -> str:
    """This process's id (host, pid and a random part, so a reused pid is a new process)."""
    pid = os.getpid()
    if pid not in _ids:
        _ids[pid] = f"{socket.gethostname()[:40]}:{pid}:{secrets.token_hex(4)}"
    return _ids[pid]


def dead_after(app: Flask | None = None) -> timedelta:
    return timedelta(seconds=int((app or current_app).config["PROCESS_DEAD_SECONDS"]))


def start(app: Flask) -> None:
    """Start this process's background work, once per app."""
    if id(app) in _started:
        return
    _started.add(id(app))
    from phonebank.calling.runner import sweep_forever
    from phonebank.lists.events import watch_forever
    from phonebank.monitoring.events import figures_forever

    for loop in (beat_forever, sweep_forever, figures_forever, watch_forever):
        socketio.start_background_task(loop, app)
    log.info("background work started in process %s", process_id())


# PostgreSQL's answers that mean "try again": deadlock detected, serialization failure.
RETRYABLE = {"40P01", "40001"}


def one_pass(app: Flask, what: str, work, *args) -> None:
    """One pass of a background loop in its own app context: an error is logged and rolled
    back, never the end of the loop. A deadlock or serialization failure (PostgreSQL chose
    this pass as the one to abort) is expected now and then and only warned about: the next
    pass does the work."""
    with app.app_context():
        try:
            work(*args)
        except OperationalError as exc:
            db.session.rollback()
            if getattr(exc.orig, "sqlstate", None) in RETRYABLE:
                log.warning("%s: %s; the next pass tries again", what, type(exc.orig).__name__)
            else:
                log.exception("%s failed", what)
        except Exception:
            db.session.rollback()
            log.exception("%s failed", what)
        finally:
            db.session.remove()


def beat_forever(app: Flask) -> None:
    interval = max(1.0, dead_after(app).total_seconds() / 3)
    while True:
        one_pass(app, "heartbeat", beat)
        socketio.sleep(interval)


def beat() -> None:
    """Say this process is alive (its row is made on the first beat, or again if another
    process took it for dead)."""
    now, me = utcnow(), process_id()
    updated = db.session.execute(
        update(WebProcess).where(WebProcess.id == me).values(beat_at=now)
    ).rowcount
    if not updated:
        db.session.add(WebProcess(id=me, started_at=now, beat_at=now))
    db.session.commit()


def forget_dead_processes(now=None) -> int:
    """Delete the socket connections of processes that stopped beating, then the processes.
    Returns how many connections were forgotten. Commits."""
    limit = (now or utcnow()) - dead_after()
    dead = list(db.session.scalars(select(WebProcess.id).where(WebProcess.beat_at < limit)))
    forgotten = 0
    if dead:
        forgotten = db.session.execute(
            delete(SocketConnection).where(SocketConnection.process.in_(dead))
        ).rowcount
        db.session.execute(delete(WebProcess).where(WebProcess.id.in_(dead)))
        log.warning(
            "web process(es) %s stopped beating: %d connection(s) forgotten",
            ", ".join(dead),
            forgotten,
        )
    db.session.commit()
    return forgotten
