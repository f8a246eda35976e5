"""The whole calling stack for live tests: the Twilio emulator, a real gunicorn gevent server
pointed at it, a seeded campaign, and volunteers driving the real Socket.IO protocol."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import socketio

from phonebank.telephony.emulator import EmulatorProcess
from tests.conftest import LiveServer, check_server_log, login_session, make_app

ACCOUNT_SID = "AC" + secrets.token_hex(16)
AUTH_TOKEN = secrets.token_hex(16)
API_KEY = "SK" + secrets.token_hex(16)
API_SECRET = secrets.token_hex(16)  # 32 characters, as Twilio's are
APP_SID = "AP" + secrets.token_hex(16)
CALLER_ID = "+12025550100"
ZONE = "America/New_York"
OPEN_ZONES = [
    ZONE,
    "America/Chicago",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
]


def open_zone() -> str:
    """A time zone where it is calling hours now and for the next ten minutes (the suite may
    run at any hour), New York whenever it is."""
    from datetime import UTC, datetime, timedelta

    from phonebank.campaigns.hours import CampaignWindow, allowed_at, make_zone_key

    now = datetime.now(UTC)
    for zone in OPEN_ZONES:
        key = make_zone_key([zone])
        if all(allowed_at(now + timedelta(minutes=m), key, CampaignWindow()) for m in (0, 10)):
            return zone
    raise AssertionError("no zone in calling hours found")


class CallingStack:
    """Emulator + server; ``start()`` then ``stop()`` (fixtures do both)."""

    def __init__(self, database_url: str, log_dir: Path, speed: float = 20.0, **server_env):
        self.server = LiveServer(
            database_url,
            log_dir,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_API_KEY=API_KEY,
            TWILIO_API_SECRET=API_SECRET,
            TWILIO_TWIML_APP_SID=APP_SID,
            PHONEBANK_RING_TIMEOUT_SECONDS="20",
            **server_env,
        )
        self.emulator = EmulatorProcess(
            ACCOUNT_SID,
            AUTH_TOKEN,
            api_key=API_KEY,
            api_secret=API_SECRET,
            twiml_app_voice_url=f"{self.server.url}/twilio/voice/client",
            speed=speed,
            seed=7,
            log_path=str(log_dir / "emulator.log"),
        )
        self.database_url = database_url
        self.volunteers: list[Volunteer] = []

    def start(self) -> CallingStack:
        self.emulator.start()
        self.server.env["PHONEBANK_TWILIO_EMULATOR_URL"] = self.emulator.url
        self.server.start()
        return self

    def stop(self) -> None:
        for volunteer in self.volunteers:
            volunteer.close()
        self.server.stop()
        self.emulator.stop()
        check_server_log(self.server)

    @property
    def control(self):
        return self.emulator.control

    def app(self):
        return make_app(self.database_url)

    def volunteer(self, email: str) -> Volunteer:
        made = Volunteer(self, email)
        self.volunteers.append(made)
        return made


def seed_campaign(
    app,
    people: int = 20,
    dialing_mode: str = "preview",
    volunteers: int = 1,
    zone: str | None = None,
    state: str | None = None,
    voicemail: str = "Sorry we missed you. Please vote on Thursday.",
) -> dict[str, Any]:
    """A campaign with a survey, ``people`` voters on its list, volunteers and one lead.
    The voters live in New York when it is calling hours there, else in a zone where it is
    (with no state: the state rules are New York's)."""
    if zone is None:
        zone = open_zone()
    if state is None:
        state = "NY" if zone == ZONE else ""
    from phonebank.campaigns import services as campaigns
    from phonebank.extensions import db
    from phonebank.models import (
        CampaignStatus,
        DialingMode,
        PhoneType,
        QuestionKind,
        Role,
        SurveyQuestion,
    )
    from phonebank.supporters import services as supporters
    from tests import factories

    with app.app_context():
        staff = factories.user(Role.STAFF, email="staff@example.org")
        users = [
            factories.user(Role.VOLUNTEER, email=f"volunteer{i}@example.org")
            for i in range(volunteers)
        ]
        campaign = campaigns.create_campaign(
            "Live test campaign",
            created_by=staff,
            status=CampaignStatus.ACTIVE,
            script="Hi {first_name}, this is {volunteer_name}.",
            dialing_mode=DialingMode(dialing_mode),
            caller_id=CALLER_ID,
            voicemail_text=voicemail,
        )
        question = SurveyQuestion(
            campaign=campaign,
            position=1,
            kind=QuestionKind.SINGLE,
            prompt="Support?",
            choices=["Yes", "No"],
            is_main=True,
            answer_tags={"Yes": ["supporter"]},
        )
        db.session.add(question)
        ids, numbers = [], []
        for i in range(people):
            person = supporters.create_person(f"Voter{i}", "Test")
            number = f"+1212{5550000 + i:07d}"
            supporters.add_phone(person, number, PhoneType.MOBILE, time_zones=[zone])
            supporters.add_address(person, city="Town", region=state, country="US", time_zone=zone)
            ids.append(person.id)
            numbers.append(number)
        for user in users:
            from phonebank.models import CampaignMember

            db.session.add(CampaignMember(campaign_id=campaign.id, user_id=user.id))
        campaigns.add_people(campaign, ids)
        db.session.commit()
        result = {
            "campaign_id": campaign.id,
            "question_id": question.id,
            "person_ids": ids,
            "numbers": numbers,
            "volunteers": [u.email for u in users],
        }
        db.session.remove()
        db.engine.dispose()
    return result


@dataclass
class Volunteer:
    """One volunteer's browser, as far as the server can tell: a signed-in session and a
    Socket.IO client speaking the calling protocol."""

    stack: CallingStack
    email: str
    states: list[dict] = field(default_factory=list)
    form: dict | None = None
    audio_sid: str | None = None

    def __post_init__(self):
        self.http = login_session(self.stack.server.url, self.email)
        self.lock = threading.Condition()
        self.client = self._connect()

    def _connect(self) -> socketio.Client:
        client = socketio.Client(http_session=self.http, reconnection=False)
        client.on("session.state", self._on_state)
        client.connect(
            self.stack.server.url,
            transports=["websocket"],
            headers={"User-Agent": self.http.headers["User-Agent"]},
            wait_timeout=10,
        )
        return client

    def _on_state(self, snapshot):
        """Keep snapshots in version order, as the page does (older ones are dropped)."""
        with self.lock:
            last = self.states[-1] if self.states else None
            if (
                last is None
                or snapshot["session"]["id"] != last["session"]["id"]
                or snapshot["version"] >= last["version"]
            ):
                self.states.append(snapshot)
            self.lock.notify_all()

    def emit(self, event: str, data: dict | None = None, expect_ok: bool = True) -> dict:
        reply = self.client.call(event, data or {}, timeout=20)
        if expect_ok:
            assert reply.get("ok"), f"{event}: {reply.get('error')}"
        if reply.get("state"):
            self._on_state(reply["state"])
        return reply

    @property
    def state(self) -> dict:
        return self.states[-1]

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "state") -> dict:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if self.states and predicate(self.states[-1]):
                    return self.states[-1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    last = self.states[-1] if self.states else None
                    raise AssertionError(f"timed out waiting for {what}; last state: {last}")
                self.lock.wait(remaining)

    def wait_state(self, *names: str, timeout: float = 20.0) -> dict:
        return self.wait_for(
            lambda s: s["session"]["state"] in names, timeout, what=f"state in {names}"
        )

    # --- the protocol ---

    def join(self, campaign_id: int) -> dict:
        reply = self.emit("session.join", {"campaign_id": campaign_id})
        self.form = reply["form"]
        return reply

    def connect_audio(self) -> None:
        """What the page's (simulated) Voice SDK Device does: a client leg into the conference."""
        reply = self.emit("audio.connect", {"mode": "browser"})
        session_id = str(reply["state"]["session"]["id"])
        leg = self.stack.control.client_connect(reply["audio"]["token"], {"session_id": session_id})
        self.audio_sid = leg["call_sid"]
        self.wait_for(lambda s: s["session"]["audio"]["up"], what="audio up")

    def drop_connection(self) -> None:
        self.client.disconnect()

    def reconnect(self) -> dict:
        self.client = self._connect()
        return self.emit("session.resume")

    def submit(
        self,
        outcome: str,
        answers: dict | None = None,
        submission_id: str | None = None,
        expect_ok: bool = True,
        **extra,
    ) -> dict:
        payload = {
            "call_id": self.state["call"]["id"],
            "submission_id": submission_id or secrets.token_hex(8),
            "outcome": outcome,
            "answers": answers or {},
            "notes": "",
            **extra,
        }
        return self.emit("outcome.submit", payload, expect_ok=expect_ok)

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


def post_signed(stack: CallingStack, path: str, params: dict[str, str], token: str | None = None):
    """POST a webhook as Twilio would, signed with the auth token (or a forged one)."""
    from twilio.request_validator import RequestValidator

    url = stack.server.url + path
    signature = RequestValidator(token or AUTH_TOKEN).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
