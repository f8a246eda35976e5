"""The API and the change feed for real: HTTP through gunicorn, the webhook worker as its own
process, a receiver that fails on purpose.

Waits are bounded by progress: a wait fails only when nothing has arrived for
``FEED_STALL_SECONDS``, never because a busy machine is slow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from phonebank.config import REPO_ROOT
from tests.api.receiver import Receiver
from tests.conftest import LiveServer, check_server_log, make_app
from tests.live_calling import CallingStack, open_zone, seed_campaign

STALL_SECONDS = float(os.environ.get("FEED_STALL_SECONDS", 60))
NUMBER_IN = {
    "America/New_York": "+12125550140",
    "America/Chicago": "+13125550140",
    "America/Los_Angeles": "+12135550140",
    "Pacific/Honolulu": "+18085550140",
    "Europe/London": "+442079460140",
    "Asia/Kolkata": "+913322820140",
    "Asia/Tokyo": "+81335550140",
    "Australia/Sydney": "+61295550140",
}


class Worker:
    """``flask webhooks worker`` as its own process (the Procfile's ``webhooks``)."""

    def __init__(self, database_url: str, log_dir: Path):
        self.env = {
            **os.environ,
            "PHONEBANK_ENV": "testing",
            "PHONEBANK_DATABASE_URL": database_url,
            "PHONEBANK_WEBHOOK_TIMEOUT_SECONDS": "1",
            "PHONEBANK_WEBHOOK_MAX_BACKOFF_SECONDS": "1",
        }
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.runs = 0

    def start(self) -> Worker:
        self.runs += 1
        log = open(self.log_dir / f"webhooks-{self.runs}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "phonebank.wsgi",
                "webhooks",
                "worker",
                "--idle",
                "0.2",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: mid-delivery, with nothing saved on the way out."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_until(what: str, done, progress) -> None:
    """Until ``done()``; fails once ``progress()`` has not changed for STALL_SECONDS."""
    last, since = None, time.monotonic()
    while not done():
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            raise AssertionError(f"{what}: no progress for {STALL_SECONDS:.0f} s ({now})")
        time.sleep(0.1)


def make_changes(app, people: int, rounds: int, tag: str) -> None:
    """``people`` people, each changed ``rounds`` more times in transactions of their own."""
    from phonebank.extensions import db
    from phonebank.supporters import services as supporters

    with app.app_context():
        made = [supporters.create_person(f"{tag}{i}", "Feed") for i in range(people)]
        db.session.commit()
        for round_ in range(rounds):
            for person in made:
                supporters.tag_person(person, f"{tag}-{round_}")
                db.session.commit()
        db.session.remove()
        db.engine.dispose()


def subscribe(app, url: str, types=()) -> tuple[int, str]:
    from phonebank.api import webhooks
    from phonebank.extensions import db

    with app.app_context():
        subscription = webhooks.create_subscription("Receiver", url, list(types), by=None)
        db.session.commit()
        made = subscription.id, subscription.secret
        db.session.remove()
        db.engine.dispose()
    return made


def feed_ids(database_url: str, types=()) -> list[int]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("select position, type from change_events order by position"))
        ids = [p for p, t in rows if p is not None and (not types or t in types)]
        unsequenced = conn.execute(
            text("select count(*) from change_events where position is null")
        ).scalar_one()
    engine.dispose()
    assert unsequenced == 0
    return ids


def subscription_row(database_url: str, subscription_id: int) -> dict:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(
                    "select status, failures, last_error, delivered_position "
                    "from webhook_subscriptions where id = :id"
                ),
                {"id": subscription_id},
            )
            .mappings()
            .one()
        )
    engine.dispose()
    return dict(row)


# A safety net only: every wait is bounded by progress.
@pytest.mark.timeout(900)
def test_a_failing_receiver_and_a_killed_worker_lose_no_event(database_url, tmp_path):
    app = make_app(database_url)
    receiver = Receiver().start()
    subscription_id, receiver.secret = subscribe(app, receiver.url)
    worker = Worker(database_url, tmp_path)
    try:
        make_changes(app, people=20, rounds=3, tag="a")
        receiver.fail_next, receiver.slow_next = 3, 2  # 500s, then answers too slow to wait for
        worker.start()
        wait_until(
            "first deliveries",
            lambda: len(receiver.unique()) >= 20,
            lambda: (receiver.attempts, len(receiver.events())),
        )
        worker.kill()  # mid-delivery
        receiver.stop()  # and the receiver goes down for a while
        make_changes(app, people=10, rounds=2, tag="b")
        worker.start()

        def row() -> dict:
            return subscription_row(database_url, subscription_id)

        wait_until(
            "the worker finds the receiver down",
            lambda: "ConnectionError" in row()["last_error"] and row()["failures"] >= 2,
            lambda: (row()["failures"], row()["last_error"]),
        )
        receiver.start()  # back, on the same address
        expected = feed_ids(database_url)
        assert len(expected) == 20 * 4 + 10 * 3
        wait_until(
            "every event delivered",
            lambda: set(receiver.unique()) >= set(expected),
            lambda: len(receiver.events()),
        )
        got = receiver.unique()
        assert sorted(got) == expected  # every event, once after de-duplication
        assert receiver.bad_signatures == 0
        # Per person, in feed order: each person's events arrive in increasing id.
        first_seen: dict[int, list[int]] = {}
        seen: set[int] = set()
        for event in receiver.events():
            if event["id"] not in seen:
                seen.add(event["id"])
                first_seen.setdefault(event["person"], []).append(event["id"])
        assert all(ids == sorted(ids) for ids in first_seen.values())
        final = subscription_row(database_url, subscription_id)
        assert final["status"] == "active" and final["failures"] == 0
        assert final["delivered_position"] == expected[-1]
    finally:
        worker.stop()
        receiver.stop()


@pytest.mark.timeout(600)
def test_the_api_over_http_with_a_real_client(database_url, tmp_path):
    from phonebank.api import keys
    from phonebank.extensions import db

    app = make_app(database_url)
    with app.app_context():
        _, token = keys.create_key("Live", ["people:read", "people:write"], by=None)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    server = LiveServer(database_url, tmp_path).start()
    try:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        made = http.post(
            f"{server.url}/api/v1/people",
            json={
                "given_name": "Http",
                "family_name": "Client",
                "phone_numbers": [{"number": "+12025550166", "number_type": "mobile"}],
            },
            timeout=10,
        )
        assert made.status_code == 201, made.text
        person = made.json()
        got = http.get(f"{server.url}/api/v1/people/{person['id']}", timeout=10)
        assert got.json()["phone_numbers"][0]["number"] == "+12025550166"
        etag = got.headers["ETag"]
        changed = http.patch(
            f"{server.url}/api/v1/people/{person['id']}",
            json={"family_name": "Clientele"},
            headers={"If-Match": etag},
            timeout=10,
        )
        assert changed.status_code == 200 and changed.json()["family_name"] == "Clientele"
        stale = http.patch(
            f"{server.url}/api/v1/people/{person['id']}",
            json={"family_name": "Stale"},
            headers={"If-Match": etag},
            timeout=10,
        )
        assert stale.status_code == 412
        assert "set-cookie" not in {k.lower() for k in changed.headers}
        assert requests.get(f"{server.url}/api/v1/people", timeout=10).status_code == 401
    finally:
        server.stop()
    check_server_log(server)


@pytest.mark.timeout(900)
def test_a_person_added_through_the_api_is_called_and_the_outcome_reaches_a_webhook(
    postgres_url, tmp_path
):
    from phonebank.api import keys
    from phonebank.extensions import db

    stack = CallingStack(postgres_url, tmp_path, PHONEBANK_SWEEP_INTERVAL_SECONDS="1").start()
    receiver = Receiver().start()
    worker = Worker(postgres_url, tmp_path)
    try:
        data = seed_campaign(stack.app(), people=0, dialing_mode="preview")
        app = stack.app()
        subscription_id, receiver.secret = subscribe(app, receiver.url, ["canvass.recorded"])
        with app.app_context():
            _, token = keys.create_key("Events module", ["people:write"], by=None)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        worker.start()
        number = NUMBER_IN[open_zone()]
        made = requests.post(
            f"{stack.server.url}/api/v1/people",
            json={
                "given_name": "Rsvp",
                "family_name": "Person",
                "phone_numbers": [{"number": number, "number_type": "mobile"}],
                "campaigns": [data["campaign_id"]],
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert made.status_code == 201, made.text
        person_id = made.json()["id"]

        volunteer = stack.volunteer(data["volunteers"][0])
        volunteer.join(data["campaign_id"])
        volunteer.connect_audio()
        volunteer.emit("volunteer.ready", {"ready": True})
        state = volunteer.wait_for(lambda s: s["voter"] is not None, what="the voter")
        assert state["voter"]["first_name"] == "Rsvp"
        stack.control.configure(outcome_mix={"human": 1.0})
        volunteer.emit("call.dial")
        volunteer.wait_for(lambda s: s["call"] and s["call"]["state"] == "talking", what="talking")
        volunteer.submit("talked", {str(data["question_id"]): "Yes"}, notes="Coming Saturday")

        wait_until(
            "the canvass at the receiver", lambda: receiver.unique(), lambda: receiver.attempts
        )
        (event,) = receiver.unique().values()
        assert event["type"] == "canvass.recorded" and event["person"] == person_id
        assert event["data"]["outcome"] == "talked"
        assert event["data"]["answers"] == [
            {"question_id": data["question_id"], "question": "Support?", "answer": "Yes"}
        ]
        assert event["data"]["notes"] == "Coming Saturday"
        assert subscription_row(postgres_url, subscription_id)["failures"] == 0
    finally:
        worker.stop()
        receiver.stop()
        stack.stop()
