"""The change feed: events written in the transaction of each change, handed out in commit
order (SQLite and PostgreSQL; the out-of-order commit case on PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from phonebank.models import ChangeEvent, Person
from phonebank.supporters import changes
from phonebank.supporters import services as supporters
from tests import factories

DC = "+12025550123"


def feed(after: int = 0) -> list[tuple[str, int | None, dict]]:
    return [(c.type, c.person_id, c.data) for c in changes.read(after, limit=1000)]


def test_one_event_per_person_per_transaction_listing_what_changed(db):
    person = supporters.create_person("Ann", "Lee")
    supporters.add_phone(person, DC)
    supporters.add_email(person, "ann@example.org")
    db.session.commit()
    assert feed() == [
        ("person.created", person.id, {"changes": ["name", "phones", "emails"]}),
    ]
    version = db.session.get(Person, person.id).version

    supporters.update_person(person, first_name="Anne")
    supporters.set_person_flags(person, module="test", do_not_call=True)
    db.session.commit()
    assert feed(1) == [("person.updated", person.id, {"changes": ["name", "do_not_call"]})]
    assert db.session.get(Person, person.id).version == version + 1

    supporters.update_person(person, first_name="Anne")  # no change: no event
    db.session.commit()
    assert feed(2) == []


def test_a_rolled_back_change_leaves_no_event(db):
    supporters.create_person("Bo", "Ray")
    db.session.rollback()
    db.session.commit()
    assert feed() == []
    assert db.session.scalar(select(Person).where(Person.first_name == "Bo")) is None


def test_taggings_do_not_call_merges_and_rsvps_have_their_own_events(db):
    from datetime import UTC, datetime, timedelta

    staff = factories.user()
    a = supporters.create_person("Cy", "Ode")
    b = supporters.create_person("Cy", "Ode")
    db.session.commit()
    changes.sequence()
    start = changes.latest_position()
    supporters.tag_person(a, "donor", source="test")
    supporters.untag_person(a, "donor")
    supporters.add_to_do_not_call(DC, reason="asked", source="test")
    supporters.remove_from_do_not_call(DC, reason="typo", by=staff)
    event = supporters.create_event("Rally", datetime.now(UTC) + timedelta(days=2))
    supporters.record_rsvp(a, event, "yes", module="events")
    supporters.merge_people(a, b, module="test")
    db.session.commit()
    got = [(t, p, d) for t, p, d in feed(start)]
    types = [t for t, _, _ in got]
    assert types == [
        "tagging.added",
        "tagging.removed",
        "do_not_call.added",
        "do_not_call.removed",
        "event.created",
        "attendance.recorded",
        "person.merged",
    ]
    assert got[0][1:] == (a.id, {"tag": "donor", "source": "test"})
    assert got[2][2] == {"number": DC, "reason": "asked", "source": "test"}
    assert got[5][2]["status"] == "yes" and got[5][2]["event_id"] == event.id
    assert got[6][1] == a.id and got[6][2]["merged"] == b.id
    # Every person whose resource changed has a new version.
    assert db.session.get(Person, b.id).version == 2


def test_positions_follow_commit_order_not_write_order(db):
    """A transaction that wrote first but commits last is handed out after the other: a
    reader that has passed the other's position still gets it."""
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the database matrix covers this on PostgreSQL")
    engine = create_engine(db.engine.url)
    try:
        slow = Session(engine)
        slow.execute(
            text(
                "INSERT INTO change_events (type, occurred_at, data) VALUES "
                "('person.updated', now(), '{\"changes\": [\"slow\"]}')"
            )
        )  # written first (lower id), not committed
        quick = supporters.create_person("Quick", "One")
        db.session.commit()
        first = changes.read(0)
        assert [c.person_id for c in first] == [quick.id]
        cursor = first[-1].position
        slow.commit()
        later = changes.read(cursor)
        assert [c.data for c in later] == [{"changes": ["slow"]}]
        assert later[0].position > cursor and later[0].id < first[0].id
    finally:
        slow.close()
        engine.dispose()


def test_concurrent_writers_and_readers_skip_and_repeat_nothing(db):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the database matrix covers this on PostgreSQL")
    url = db.engine.url
    written: list[int] = []

    def writer(n: int) -> None:
        engine = create_engine(url)
        with Session(engine) as session:
            for i in range(40):
                session.execute(
                    text(
                        "INSERT INTO change_events (type, occurred_at, person_id, data) "
                        "VALUES ('person.updated', now(), :p, '{}')"
                    ),
                    {"p": n * 1000 + i},
                )
                if i % 3 == 0:
                    session.execute(text("SELECT pg_sleep(0.005)"))
                session.commit()
                written.append(n * 1000 + i)
        engine.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    seen: list[int] = []
    cursor = 0
    while True:
        done = not any(t.is_alive() for t in threads)
        batch = changes.read(cursor, limit=7)
        db.session.commit()
        seen.extend(c.person_id for c in batch)
        if batch:
            cursor = batch[-1].position
        elif done:
            break
    assert sorted(seen) == sorted(written)
    assert len(seen) == len(set(seen)) == 160
    assert db.session.scalar(select(ChangeEvent.id).where(ChangeEvent.position.is_(None))) is None


def test_a_list_import_announces_the_people_it_created_and_updated(db, tmp_path):
    from tests.lists.conftest import VAN_HEADER, import_path, van_row, write_file

    known = supporters.create_person("Old", "Timer")
    supporters.add_external_id(known, "van", "1001")
    db.session.commit()
    changes.sequence()
    start = changes.latest_position()
    rows = [
        VAN_HEADER,
        van_row("1001", "Old", "Timer", cell="2025550111"),
        van_row("1002", "New", "Comer", cell="2025550112"),
    ]
    import_path(write_file(tmp_path, "van.csv", rows))
    got = feed(start)
    assert sorted(t for t, _, _ in got) == ["person.created", "person.updated"]
    assert ("person.updated", known.id) in {(t, p) for t, p, _ in got}
    db.session.expire_all()
    assert db.session.get(Person, known.id).version == 2
