"""The store's change feed: every change appends an event to ``change_events`` in the same
transaction as the change, and the feed hands them out in commit order.

Writers (the store's services, the bulk writer) say what changed while they work:

- ``note(person_id, what)``: a field of the person or something hanging off them changed
  (``name``, ``do_not_call``, ``phones``, ...). All notes about one person in one transaction
  become one ``person.created`` or ``person.updated`` event listing them.
- ``touch(person_id)``: the person's resource changed (say, a tag) without a
  ``person.updated`` event of its own (the tagging has its own event).
- ``emit(type, person_id, data)``: a discrete event (``canvass.recorded``,
  ``tagging.added``, ``do_not_call.added``, ...), in the order emitted.

Just before the transaction commits, the pending events are inserted and the people's
``version`` raised, in that transaction; a rollback drops them with everything else.

Rows get their feed ``position`` once committed, from ``sequence()`` (one sequencer at a time:
a PostgreSQL advisory lock; SQLite serialises writers anyway), so positions follow commit
order and a reader past position N never finds a later row at or below N.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from phonebank.extensions import db
from phonebank.models import ChangeEvent, Person, utcnow

# Every type the feed carries, and what its ``data`` holds (docs/api.md has the details).
EVENT_TYPES = {
    "person.created": "a person was added to the store; data.changes lists what they came with",
    "person.updated": "names, flags or contact details changed; data.changes lists which",
    "person.merged": "data.merged was folded into person (the survivor)",
    "tagging.added": "data.tag was added to the person",
    "tagging.removed": "data.tag was taken off the person",
    "canvass.recorded": "a call's outcome and answers (or another module's contact) were saved",
    "canvass.corrected": "a volunteer's account replaced an automatic outcome",
    "attendance.recorded": "an RSVP was recorded or changed",
    "event.created": "an event that RSVPs can be recorded against",
    "do_not_call.added": "data.number was put on the do-not-call list",
    "do_not_call.removed": "data.number was taken off the do-not-call list by staff",
}
PENDING = "phonebank.changes"
_SEQUENCER_LOCK = 0x70686F6E  # "phon": the PostgreSQL advisory lock of the one sequencer


@dataclass
class _Pending:
    events: list[dict[str, Any]] = field(default_factory=list)
    people: dict[int, dict[str, Any]] = field(default_factory=dict)  # person id → its event
    touched: set[int] = field(default_factory=set)


def _pending(session: Session | None = None) -> _Pending:
    info = (session or db.session()).info
    if PENDING not in info:
        info[PENDING] = _Pending()
    return info[PENDING]


def note(person_id: int, what: str, *, created: bool = False) -> None:
    """This person's ``what`` changed (or they were ``created``) in this transaction."""
    pending = _pending()
    row = pending.people.get(person_id)
    if row is None:
        row = {"type": "person.updated", "person_id": person_id, "data": {"changes": []}}
        pending.people[person_id] = row
        pending.events.append(row)
    if created:
        row["type"] = "person.created"
    if what and what not in row["data"]["changes"]:
        row["data"]["changes"].append(what)
    pending.touched.add(person_id)


def touch(person_id: int) -> None:
    """The person's resource changed (their version goes up) with no person event."""
    _pending().touched.add(person_id)


def emit(type: str, person_id: int | None, data: dict[str, Any]) -> None:
    """A discrete event, in emission order."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown change event type {type!r}")
    pending = _pending()
    pending.events.append({"type": type, "person_id": person_id, "data": data})
    if person_id is not None:
        pending.touched.add(person_id)


def write_pending(session: Session) -> int:
    """Insert this transaction's events and raise its people's versions (``before_commit``)."""
    pending = session.info.pop(PENDING, None)
    if pending is None or not (pending.events or pending.touched):
        return 0
    now = utcnow()
    rows = [
        {"type": e["type"], "person_id": e["person_id"], "data": e["data"], "occurred_at": now}
        for e in pending.events
    ]
    created = {pid for pid, row in pending.people.items() if row["type"] == "person.created"}
    bumped = sorted(pending.touched - created)  # a new person starts at version 1
    # Plain table statements: the ORM's bulk paths cost more than the write itself here.
    if bumped:
        people = Person.__table__
        session.execute(
            people.update().where(people.c.id.in_(bumped)).values(version=people.c.version + 1)
        )
    if rows:
        session.execute(ChangeEvent.__table__.insert(), rows)
    return len(rows)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if PENDING in session.info:
        write_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING, None)  # rolled back (a commit has written and dropped them)


# --- reading the feed ----------------------------------------------------------------------


def sequence(limit: int = 10_000) -> int:
    """Give committed, unsequenced events their positions, in id order, after every position
    given so far. Returns how many got one. Commits."""
    session = db.session
    waiting = session.scalar(select(ChangeEvent.id).where(ChangeEvent.position.is_(None)).limit(1))
    if waiting is None:
        session.commit()
        return 0
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEQUENCER_LOCK})
    done = session.execute(
        text(
            "WITH todo AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM change_events"
            " WHERE position IS NULL ORDER BY id LIMIT :limit),"
            " base AS (SELECT coalesce(max(position), 0) AS top FROM change_events)"
            " UPDATE change_events SET position = (SELECT top FROM base) + todo.n"
            " FROM todo WHERE change_events.id = todo.id"
        ),
        {"limit": limit},
    ).rowcount
    session.commit()
    return done


def latest_position() -> int:
    return (
        db.session.scalar(
            select(ChangeEvent.position).order_by(ChangeEvent.position.desc()).limit(1)
        )
        or 0
    )


def read(after: int, limit: int = 100, types: list[str] | None = None) -> list[ChangeEvent]:
    """Events after position ``after``, in feed order (sequencing first what has committed)."""
    sequence()
    query = (
        select(ChangeEvent)
        .where(ChangeEvent.position > after)
        .order_by(ChangeEvent.position)
        .limit(limit)
    )
    if types:
        query = query.where(ChangeEvent.type.in_(types))
    return list(db.session.scalars(query))


def as_json(change: ChangeEvent) -> dict[str, Any]:
    return {
        "id": change.position,
        "type": change.type,
        "occurred_at": change.occurred_at.isoformat(),
        "person": change.person_id,
        "data": change.data,
    }
