"""Fifty volunteers drain a 2,000-person campaign on PostgreSQL through the real server and the
Twilio emulator: nobody claimed twice, nobody on do-not-call dialed, one outcome per call.

The test waits as long as the calling goes on: it fails only when no call has been made for
``DRAIN_STALL_SECONDS``, never because a busy machine is slow."""

from __future__ import annotations

import os
import secrets
import threading
import time

import pytest
from sqlalchemy import func, insert, select, text

from phonebank.campaigns.hours import make_zone_key
from tests.live_calling import CallingStack, open_zone

VOLUNTEERS = int(os.environ.get("DRAIN_VOLUNTEERS", 50))
PEOPLE = int(os.environ.get("DRAIN_PEOPLE", 2000))
STALL_SECONDS = float(os.environ.get("DRAIN_STALL_SECONDS", 120))


def seed(app, zone: str) -> dict:
    """Bulk-load people, phones, a power-mode campaign and its list (the services would take
    minutes for 5,000 people; what the queue reads is the same)."""
    from phonebank.campaigns import services as campaigns
    from phonebank.extensions import db
    from phonebank.models import (
        CampaignMember,
        CampaignStatus,
        CampaignTarget,
        DialingMode,
        DoNotCallNumber,
        Person,
        Phone,
        Role,
    )
    from tests import factories

    with app.app_context():
        staff = factories.user(Role.STAFF, email="staff@example.org")
        volunteers = [
            factories.user(Role.VOLUNTEER, email=f"v{i}@example.org") for i in range(VOLUNTEERS)
        ]
        campaign = campaigns.create_campaign(
            "Drain",
            created_by=staff,
            status=CampaignStatus.ACTIVE,
            dialing_mode=DialingMode.POWER,
            caller_id="+12025550100",
            voicemail_text="Please vote.",
            max_attempts=1,
        )
        db.session.add_all(
            CampaignMember(campaign_id=campaign.id, user_id=v.id) for v in volunteers
        )
        db.session.flush()
        db.session.execute(
            insert(Person),
            [
                {"first_name": f"P{i}", "last_name": "Drain", "do_not_call": i % 100 == 7}
                for i in range(PEOPLE)
            ],
        )
        ids = list(db.session.scalars(select(Person.id).order_by(Person.id)))
        numbers = {pid: f"+1212{5550000 + i:07d}" for i, pid in enumerate(ids)}
        db.session.execute(
            insert(Phone),
            [
                {"person_id": pid, "number": n, "type": "mobile", "time_zones": zone}
                for pid, n in numbers.items()
            ],
        )
        dnc_numbers = [n for i, n in enumerate(numbers.values()) if i % 200 == 3]
        db.session.execute(insert(DoNotCallNumber), [{"number": n} for n in dnc_numbers])
        db.session.execute(
            insert(CampaignTarget),
            [
                {"campaign_id": campaign.id, "person_id": pid, "zone_key": make_zone_key([zone])}
                for pid in ids
            ],
        )
        db.session.commit()
        result = {
            "campaign_id": campaign.id,
            "volunteers": [v.email for v in volunteers],
            "dnc_people": {pid for i, pid in enumerate(ids) if i % 100 == 7},
            "dnc_numbers": set(dnc_numbers),
        }
        db.session.remove()
        db.engine.dispose()
    return result


FINISHED = {"list_finished"}


class Progress:
    """Watches the calls table: ``stalled`` once no call has been added for STALL_SECONDS."""

    def __init__(self, stack):
        self.stack = stack
        self.stop = threading.Event()
        self.stalled = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def count(self, engine) -> int:
        with engine.connect() as conn:
            return conn.execute(text("select count(*) from calls")).scalar_one()

    def run(self) -> None:
        from sqlalchemy import create_engine

        engine = create_engine(self.stack.database_url)
        try:
            last, since = -1, time.monotonic()
            while not self.stop.wait(2.0):
                now = self.count(engine)
                if now != last:
                    last, since = now, time.monotonic()
                elif time.monotonic() - since > STALL_SECONDS:
                    self.stalled = True
                    self.stop.set()
        finally:
            engine.dispose()


def work(volunteer, campaign_id: int, progress: Progress, errors: list) -> None:
    """A volunteer in power mode: record an outcome for every person who answers, until the
    list is finished (or the calling has stalled)."""
    try:
        volunteer.join(campaign_id)
        volunteer.connect_audio()
        volunteer.emit("volunteer.ready", {"ready": True})
        done: set[int] = set()

        def needs_me(s):
            call = s["call"]
            if call and call["id"] not in done and call["state"] in ("talking", "ended"):
                return True
            if not s["session"]["audio"]["up"]:
                return True
            return s["voter"] is None and s["session"]["notice"].get("reason") in FINISHED

        while not progress.stop.is_set():
            try:
                state = volunteer.wait_for(needs_me, timeout=5)
            except AssertionError:
                continue  # nothing for me yet: the watcher decides whether that is a stall
            if not state["session"]["audio"]["up"]:
                # Twilio ends a leg after four hours (seconds here, at this speed):
                # the volunteer reconnects, as the page asks them to.
                volunteer.connect_audio()
                continue
            call = state["call"]
            if call and call["id"] not in done:
                done.add(call["id"])
                reply = volunteer.submit(
                    "talked", {}, submission_id=secrets.token_hex(8), expect_ok=False
                )
                if not reply.get("ok") and "already recorded" not in reply.get("error", ""):
                    errors.append(reply.get("error"))
                continue
            return
    except Exception as exc:  # reported by the test
        errors.append(repr(exc))


# A safety net only: the test itself is bounded by progress (STALL_SECONDS without a call).
@pytest.mark.timeout(3600)
def test_fifty_volunteers_drain_a_campaign(postgres_url, tmp_path):
    stack = CallingStack(
        postgres_url,
        tmp_path,
        speed=400.0,
        PHONEBANK_SWEEP_INTERVAL_SECONDS="1",
        PHONEBANK_DB_POOL_SIZE="30",
        PHONEBANK_LOG_LEVEL=os.environ.get("DRAIN_LOG_LEVEL", "WARNING"),
    ).start()
    try:
        data = seed(stack.app(), open_zone())
        # Every kind of ending, weighted towards the quick ones so the calls fit the suite.
        stack.control.configure(
            outcome_mix={"human": 0.1, "machine": 0.1, "busy": 0.2, "no-answer": 0.2, "failed": 0.4}
        )
        volunteers = [stack.volunteer(email) for email in data["volunteers"]]
        errors: list = []
        progress = Progress(stack)
        progress.thread.start()
        threads = [
            threading.Thread(target=work, args=(v, data["campaign_id"], progress, errors))
            for v in volunteers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        progress.stop.set()
        progress.thread.join()
        made = calls_made(stack)
        assert not progress.stalled, f"no call for {STALL_SECONDS:.0f} s: {made}"
        assert errors == [], f"{made}; first errors: {errors[:3]}"
        check(stack, data)
    finally:
        stack.stop()


def calls_made(stack) -> str:
    from phonebank.extensions import db
    from phonebank.models import Call

    app = stack.app()
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Call))
        recorded = db.session.scalar(select(func.count()).where(Call.outcome_id.is_not(None)))
        db.session.remove()
        db.engine.dispose()
    return f"{total} calls, {recorded} with outcomes"


def check(stack, data) -> None:
    from phonebank.extensions import db
    from phonebank.models import Activity, Call, CampaignTarget, Phone, TargetStatus

    app = stack.app()
    with app.app_context():
        expected = (
            PEOPLE
            - len(data["dnc_people"])
            - len(
                data["dnc_numbers"] - set()  # numbers listed, people not already excluded
            )
            + len(
                {
                    pid
                    for pid, number in db.session.execute(select(Phone.person_id, Phone.number))
                    if number in data["dnc_numbers"] and pid in data["dnc_people"]
                }
            )
        )
        calls = db.session.execute(select(Call.person_id, Call.outcome_id, Call.id)).all()
        people_called = [c.person_id for c in calls]
        # Nobody claimed (or dialed) twice: one call per person with max_attempts=1.
        assert len(people_called) == len(set(people_called))
        assert len(calls) == expected
        # Nobody on do-not-call was dialed.
        dialed_numbers = set(
            db.session.scalars(select(Phone.number).join(Call, Call.phone_id == Phone.id))
        )
        assert not dialed_numbers & data["dnc_numbers"]
        assert not set(people_called) & data["dnc_people"]
        # Every call has exactly one outcome, written once to the supporter store.
        missing = db.session.execute(
            select(Call.id, Call.status, Call.answered_by, Call.end_reason, Call.session_id).where(
                Call.outcome_id.is_(None)
            )
        ).all()
        assert missing == [], missing
        per_call = db.session.execute(
            text(
                "select payload->>'call_id', count(*) from activities "
                "where kind = 'call' group by 1 having count(*) > 1"
            )
        ).all()
        assert per_call == []
        assert db.session.scalar(
            select(func.count()).select_from(Activity).where(Activity.kind == "call")
        ) == len(calls)
        # The list is drained: everyone callable is done, nobody stuck in a claim or call.
        stuck = db.session.scalar(
            select(func.count()).where(
                CampaignTarget.status.in_([TargetStatus.CLAIMED, TargetStatus.IN_CALL])
            )
        )
        assert stuck == 0
        db.session.remove()
        db.engine.dispose()
