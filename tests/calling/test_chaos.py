"""A web process is killed mid-calling (SIGKILL: no goodbye, no cleanup) and a new one is
started in its place, on PostgreSQL and the Twilio emulator. Half the volunteers come back and
go on calling; half never do. Once things settle, nothing may be left behind: the absent
volunteers' sessions end, nobody stays claimed by a session that is over, every call the
emulator placed is known to phonebank and final, nobody was dialed twice at once, and no call
has two outcomes.

Every wait here is bounded by progress (``settle``): it fails only when nothing has changed for
``CHAOS_STALL_SECONDS``, never because a busy machine is slow."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import check_server_log
from tests.live_calling import CallingStack, seed_campaign

STALL_SECONDS = float(os.environ.get("CHAOS_STALL_SECONDS", 90))
VOLUNTEERS = 4
PEOPLE = 60


def settle(engine, what: str, query: str, done) -> object:
    """Poll ``query`` until ``done(rows)``; fail if its answer stops changing for
    STALL_SECONDS without being done."""
    last, since = None, time.monotonic()
    while True:
        with engine.connect() as conn:
            rows = conn.execute(text(query)).all()
        if done(rows):
            return rows
        if rows != last:
            last, since = rows, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            raise AssertionError(f"{what}: no progress for {STALL_SECONDS:.0f} s: {rows}")
        time.sleep(0.5)


def work(volunteer, stop: threading.Event, errors: list, calls: list) -> None:
    """Power mode: record "talked" for every call that reaches the volunteer, until stopped."""
    handled: set[int] = set()

    def needs_me(s):
        call = s["call"]
        return bool(call and call["id"] not in handled and call["state"] in ("talking", "ended"))

    while not stop.is_set():
        try:
            state = volunteer.wait_for(needs_me, timeout=2)
        except AssertionError:
            continue
        call = state["call"]
        handled.add(call["id"])
        try:
            reply = volunteer.submit(
                "talked", {}, submission_id=secrets.token_hex(8), expect_ok=False
            )
        except Exception as exc:  # the server was killed under us: expected in phase one
            if not stop.is_set():
                errors.append(repr(exc))
            return
        if reply.get("ok"):
            calls.append(call["id"])
        elif "already recorded" not in reply.get("error", "") and not stop.is_set():
            errors.append(reply.get("error"))


def ready_volunteers(stack, data) -> list:
    """Every seeded volunteer joins, connects audio and presses Ready."""
    volunteers = [stack.volunteer(email) for email in data["volunteers"]]
    for volunteer in volunteers:
        volunteer.join(data["campaign_id"])
        volunteer.connect_audio()
        volunteer.emit("volunteer.ready", {"ready": True})
    return volunteers


def settle_every_call(engine) -> None:
    settle(
        engine,
        "every call final",
        "select id, status from calls where status not in "
        "('completed', 'busy', 'no-answer', 'failed', 'canceled') order by id",
        lambda rows: rows == [],
    )


def run_volunteers(volunteers, stop, errors, calls) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=work, args=(v, stop, errors, calls), daemon=True)
        for v in volunteers
    ]
    for thread in threads:
        thread.start()
    return threads


def kill_hard(server) -> None:
    """SIGKILL gunicorn's worker and its master at once: nothing runs on the way out."""
    workers = subprocess.run(
        ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
    ).stdout.split()
    for pid in [*workers, str(server.process.pid)]:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.process.wait()
    server.log.close()


@pytest.mark.timeout(1800)  # a safety net only: every wait is bounded by progress
def test_a_killed_web_process_leaves_nothing_behind(postgres_url, tmp_path):
    stack = CallingStack(
        postgres_url,
        tmp_path,
        speed=20.0,
        PHONEBANK_SWEEP_INTERVAL_SECONDS="1",
        PHONEBANK_PROCESS_DEAD_SECONDS="3",
        PHONEBANK_SESSION_ABANDON_SECONDS="5",
        PHONEBANK_RECONCILE_TALKING_AFTER_SECONDS="3",
    ).start()
    engine = create_engine(postgres_url)
    try:
        data = seed_campaign(
            stack.app(), people=PEOPLE, dialing_mode="power", volunteers=VOLUNTEERS
        )
        stack.control.configure(outcome_mix={"human": 0.5, "no-answer": 0.25, "busy": 0.25})
        volunteers = ready_volunteers(stack, data)

        # Phase one: calling goes on until calls are in flight, then the process is killed.
        stop, errors, before = threading.Event(), [], []
        threads = run_volunteers(volunteers, stop, errors, before)
        settle(
            engine,
            "calls in flight before the kill",
            "select count(*) filter (where outcome_id is not null), "
            "count(*) filter (where status not in ('completed', 'busy', 'no-answer', 'failed', "
            "'canceled')) from calls",
            lambda rows: rows[0][0] >= 4 and rows[0][1] >= 1,
        )
        kill_hard(stack.server)
        stop.set()
        for thread in threads:
            thread.join()

        # Phase two: a new process on the same address; two volunteers come back.
        stack.server.log_path = tmp_path / "gunicorn-restarted.log"
        stack.server.start()
        back, gone = volunteers[:2], volunteers[2:]
        for volunteer in back:
            volunteer.reconnect()
        stop2, errors2, after = threading.Event(), [], []
        threads = run_volunteers(back, stop2, errors2, after)

        gone_sessions = ", ".join(f"'{v.email}'" for v in gone)
        settle(
            engine,
            "the absent volunteers' sessions end",
            "select u.email, s.notice->>'reason' from calling_sessions s "
            f"join users u on u.id = s.user_id where u.email in ({gone_sessions}) "
            "and s.ended_at is null",
            lambda rows: rows == [],
        )
        settle(
            engine,
            "the returning volunteers go on calling",
            "select count(*) from calls c join users u on u.id = c.volunteer_id "
            f"where c.outcome_id is not null and u.email not in ({gone_sessions})",
            lambda rows: len(after) >= 3,
        )
        for volunteer in back:
            volunteer.emit("volunteer.ready", {"ready": False})
        settle_every_call(engine)
        stop2.set()
        for thread in threads:
            thread.join()
        assert errors == [], errors
        assert errors2 == [], errors2
        check_nothing_left(engine, stack, acknowledged=before + after)
        check_server_log(stack.server)
    finally:
        engine.dispose()
        stack.stop()


def check_nothing_left(engine, stack, acknowledged: list[int]) -> None:
    with engine.connect() as conn:
        # Every outcome the server acknowledged is in the database.
        recorded = set(
            conn.execute(text("select id from calls where outcome_id is not null")).scalars()
        )
        assert set(acknowledged) <= recorded, set(acknowledged) - recorded
        # Nobody held by a session that is over (or by nobody).
        held = conn.execute(
            text(
                "select t.person_id, t.status from campaign_targets t "
                "where t.status in ('claimed', 'in_call') and not exists ("
                " select 1 from calling_sessions s where s.user_id = t.claimed_by_id"
                " and s.ended_at is null)"
            )
        ).all()
        assert held == [], held
        # Every voter call the emulator placed is one phonebank knows, by its SID.
        known = set(
            conn.execute(text("select provider_sid from calls where provider_sid is not null"))
            .scalars()
            .all()
        )
        placed = {
            call["sid"]
            for call in stack.control.state()["calls"]
            if call["emulator"]["client_identity"] is None and call["to"].startswith("+1212")
        }
        assert placed <= known, placed - known
        # Nobody dialed twice at once: a person's calls never overlap in time.
        overlapping = conn.execute(
            text(
                "select a.id, b.id from calls a join calls b on a.person_id = b.person_id "
                "and a.id < b.id and b.created_at < coalesce(a.ended_at, now())"
            )
        ).all()
        assert overlapping == [], overlapping
        # One outcome per call, written once to the store.
        doubled = conn.execute(
            text(
                "select payload->>'call_id', count(*) from activities where kind = 'call' "
                "group by 1 having count(*) > 1"
            )
        ).all()
        assert doubled == [], doubled


@pytest.mark.timeout(1800)  # a safety net only: every wait is bounded by progress
def test_lost_doubled_and_reordered_callbacks_leave_nothing_behind(postgres_url, tmp_path):
    """The same checks with Twilio's status callbacks duplicated, reordered and (the final
    one) dropped at random: calls are settled from the provider, never left open."""
    stack = CallingStack(
        postgres_url,
        tmp_path,
        speed=20.0,
        PHONEBANK_SWEEP_INTERVAL_SECONDS="1",
        PHONEBANK_RECONCILE_TALKING_AFTER_SECONDS="3",
        PHONEBANK_RECONCILE_RINGING_MARGIN_SECONDS="3",
    ).start()
    engine = create_engine(postgres_url)
    try:
        data = seed_campaign(stack.app(), people=PEOPLE, dialing_mode="power", volunteers=3)
        stack.control.configure(outcome_mix={"human": 0.5, "no-answer": 0.25, "busy": 0.25})
        stack.control.set_faults(duplicate=0.3, reorder=0.3, drop_final=0.3, seed=11)
        volunteers = ready_volunteers(stack, data)
        stop, errors, acknowledged = threading.Event(), [], []
        threads = run_volunteers(volunteers, stop, errors, acknowledged)
        settle(
            engine,
            "calls made through the faults",
            "select count(*) from calls where status in "
            "('completed', 'busy', 'no-answer', 'failed', 'canceled')",
            lambda rows: rows[0][0] >= 15 and len(acknowledged) >= 5,
        )
        for volunteer in volunteers:
            volunteer.emit("volunteer.ready", {"ready": False})
        settle_every_call(engine)
        stop.set()
        for thread in threads:
            thread.join()
        assert errors == [], errors
        check_nothing_left(engine, stack, acknowledged)
    finally:
        engine.dispose()
        stack.stop()
