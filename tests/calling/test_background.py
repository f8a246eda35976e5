"""A web process's background work: its heartbeat, and what the others do once it stops
(its sockets forgotten, its volunteers' sessions ended, nobody claimed for an empty chair)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from phonebank import background
from phonebank.calling import runner
from phonebank.models import (
    CallingSession,
    LoginSession,
    SocketConnection,
    TargetStatus,
    WebProcess,
)
from tests.calling.helpers import enlist, make_campaign, make_person, open_session, target_of
from tests.live_calling import ZONE, open_zone


@pytest.fixture
def now(clock, app):
    """The calling services' clock at the real time (the sweeper reads the real clock), in a
    campaign whose people are inside calling hours now."""
    app.config.update(PROCESS_DEAD_SECONDS=30, SESSION_ABANDON_SECONDS=60)
    return clock.set(datetime.now(UTC))


def connect(db, session: CallingSession, process: str | None) -> SocketConnection:
    login = LoginSession(user_id=session.user_id)
    db.session.add(login)
    db.session.flush()
    made = SocketConnection(
        sid=f"sid-{session.id}",
        login_session_id=login.id,
        user_id=session.user_id,
        process=process,
    )
    db.session.add(made)
    db.session.flush()
    return made


def state_of(zone: str) -> str:
    return "NY" if zone == ZONE else ""


def seen(session: CallingSession, seconds_ago: int, now: datetime) -> None:
    session.last_seen_at = now - timedelta(seconds=seconds_ago)


def test_the_heartbeat_makes_then_renews_this_process_row(db, app):
    background.beat()
    first = db.session.get(WebProcess, background.process_id())
    assert first is not None
    beat_at = first.beat_at
    background.beat()
    db.session.expire_all()
    again = db.session.get(WebProcess, background.process_id())
    assert again.beat_at >= beat_at
    assert db.session.query(WebProcess).count() == 1


def test_a_dead_process_loses_its_connections_and_a_live_one_keeps_them(db, now):
    campaign = make_campaign()
    sessions = [open_session(campaign) for _ in range(3)]
    db.session.add_all(
        [
            WebProcess(id="dead", beat_at=now - timedelta(seconds=31)),
            WebProcess(id="live", beat_at=now - timedelta(seconds=5)),
        ]
    )
    connect(db, sessions[0], "dead")
    connect(db, sessions[1], "live")
    connect(db, sessions[2], None)  # not a serving process's (a test client's, say)
    db.session.commit()

    assert background.forget_dead_processes(now) == 1
    left = set(db.session.scalars(select(SocketConnection.user_id)))
    assert left == {sessions[1].user_id, sessions[2].user_id}
    assert set(db.session.scalars(select(WebProcess.id))) == {"live"}
    assert background.forget_dead_processes(now) == 0


def test_the_sweep_ends_the_sessions_a_dead_process_left_and_frees_their_voters(db, now):
    zone = open_zone()
    campaign = make_campaign()
    people = [make_person(f"P{i}", zone=zone, state=state_of(zone)) for i in range(6)]
    enlist(campaign, *people)
    gone, staying, away = (open_session(campaign) for _ in range(3))
    # The volunteer whose process died had a voter in preview.
    from phonebank.calling import services as calling

    held = calling.present_next_voter(gone)
    assert held is not None
    db.session.add(WebProcess(id="dead", beat_at=now - timedelta(minutes=5)))
    db.session.add(WebProcess(id="live", beat_at=now))
    connect(db, gone, "dead")
    connect(db, staying, "live")
    seen(gone, 300, now)
    seen(staying, 300, now)  # connected but quiet: still there
    seen(away, 40, now)  # no socket, not yet abandoned: not given a voter either
    db.session.commit()

    result = runner.sweep()

    assert result["forgotten_connections"] == 1
    db.session.expire_all()
    gone_now = db.session.get(CallingSession, gone.id)
    assert gone_now.ended_at is not None
    assert gone_now.notice["reason"] == "ended:abandoned"
    assert gone_now.current_target_id is None
    freed = target_of(campaign, held.person)  # back in the queue, or taken by someone present
    assert freed.status == TargetStatus.QUEUED or freed.claimed_by_id == staying.user_id
    staying_now = db.session.get(CallingSession, staying.id)
    assert staying_now.ended_at is None and staying_now.current_target_id is not None
    away_now = db.session.get(CallingSession, away.id)
    assert away_now.ended_at is None and away_now.current_target_id is None


def test_an_absent_volunteer_is_given_no_voter_after_a_call_ends(db, now):
    zone = open_zone()
    campaign = make_campaign()
    enlist(campaign, *[make_person(f"Q{i}", zone=zone, state=state_of(zone)) for i in range(2)])
    session = open_session(campaign)
    seen(session, 45, now)
    db.session.commit()
    runner.advance_session(session.id)
    db.session.expire_all()
    assert db.session.get(CallingSession, session.id).current_target_id is None
    seen(db.session.get(CallingSession, session.id), 0, now)
    db.session.commit()
    runner.advance_session(session.id)
    db.session.expire_all()
    assert db.session.get(CallingSession, session.id).current_target_id is not None


def test_only_a_serving_process_starts_background_work(monkeypatch):
    from phonebank import create_app

    started = []
    monkeypatch.setattr(background, "start", started.append)
    create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert started == []
    app = create_app(
        {"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://", "BACKGROUND_WORK": True}
    )
    assert started == [app]


# --- claims on a volunteer's card ----------------------------------------------------------


def test_a_preview_the_volunteer_is_looking_at_stays_theirs(db, now, app):
    from phonebank.calling import services as calling

    zone = open_zone()
    campaign = make_campaign(dialing_mode="preview")
    enlist(campaign, *[make_person(f"L{i}", zone=zone, state=state_of(zone)) for i in range(2)])
    reading = open_session(campaign)
    target = calling.present_next_voter(reading)
    db.session.add(WebProcess(id="live", beat_at=now))
    connect(db, reading, "live")
    target.lease_expires_at = now - timedelta(seconds=1)  # read for longer than the lease
    db.session.commit()

    runner.sweep()

    db.session.expire_all()
    held = target_of(campaign, target.person)
    assert held.status == TargetStatus.CLAIMED and held.claimed_by_id == reading.user_id
    assert held.lease_expires_at > now
    assert db.session.get(CallingSession, reading.id).current_target_id == held.id


def test_a_claim_lost_while_away_is_cleared_from_the_card_honestly(db, now, app):
    from phonebank.calling import services as calling

    zone = open_zone()
    campaign = make_campaign(dialing_mode="preview")
    people = [make_person(f"M{i}", zone=zone, state=state_of(zone)) for i in range(3)]
    enlist(campaign, *people)
    away = open_session(campaign)
    target = calling.present_next_voter(away)
    target.lease_expires_at = now - timedelta(seconds=1)
    seen(away, 10, now)  # no socket: the page is closed, the session not yet abandoned
    db.session.commit()
    other = open_session(campaign)
    taken = calling.present_next_voter(other)  # the expired claim is free to take
    assert taken.id == target.id
    db.session.commit()

    # Coming back and pressing Call: the card is cleared with a notice, not an error that
    # leaves the same voter there.
    session = calling.lock_session(away.id)
    assert calling.prepare_call(session) is None
    assert session.current_target_id is None
    assert session.notice["reason"] == "claim_expired"
    db.session.rollback()

    # And the sweeper clears it anyway if the volunteer never presses anything.
    runner.sweep()
    db.session.expire_all()
    card = db.session.get(CallingSession, away.id)
    assert card.current_target_id != target.id
    assert card.notice.get("reason") == "claim_expired" or card.current_target_id is not None, (
        card.notice,
        card.current_target_id,
        card.ready,
    )


def test_a_pass_chosen_as_a_deadlock_victim_is_only_warned_about(app, caplog):
    import logging

    import psycopg
    from sqlalchemy.exc import OperationalError

    def deadlocked():
        raise OperationalError("UPDATE ...", {}, psycopg.errors.DeadlockDetected())

    def broken():
        raise RuntimeError("a real bug")

    with caplog.at_level(logging.WARNING, logger="phonebank.background"):
        background.one_pass(app, "sweep", deadlocked)
        background.one_pass(app, "sweep", broken)
    levels = [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records]
    assert levels == [("WARNING", "sweep"), ("ERROR", "sweep failed")]
