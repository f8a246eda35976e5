"""The leads' dashboard live: a real gunicorn gevent server (or two sharing Redis), the Twilio
emulator, PostgreSQL, and real python-socketio clients for the lead and the volunteer. The lead
sees the volunteer's every state change and the day's figures as they happen."""

from __future__ import annotations

import threading
import time

import pytest
import socketio

from phonebank.models import Role
from tests.conftest import LiveServer, check_server_log, login_session, make_app
from tests.live_calling import CallingStack, seed_campaign

pytestmark = [pytest.mark.postgres, pytest.mark.live]

HUMAN_STAYS = {"answer": "human", "ring_seconds": 2, "talk_seconds": None}
LEAD_EMAIL = "lead@example.org"


def add_lead(database_url: str, campaign_id: int, email: str = LEAD_EMAIL) -> str:
    """A lead assigned to the campaign (seed_campaign makes staff and volunteers only)."""
    from phonebank.extensions import db
    from phonebank.models import CampaignMember
    from tests import factories

    app = make_app(database_url)
    with app.app_context():
        lead = factories.user(Role.LEAD, email=email)
        db.session.add(CampaignMember(campaign_id=campaign_id, user_id=lead.id))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return email


class Dashboard:
    """A lead's dashboard page as the server sees it: a signed-in socket watching a campaign,
    keeping rows the way monitor.js does (an older version of a row is dropped)."""

    def __init__(self, base_url: str, email: str, campaign_id: int):
        self.campaign_id = campaign_id
        self.http = login_session(base_url, email)
        self.cond = threading.Condition()
        self.pushed: list[dict] = []  # every dashboard.volunteer row, as received
        self.applied: list[dict] = []  # the rows the page would apply
        self.versions: dict[int, int] = {}
        self.figures: list[dict] = []
        self.figure_campaigns: set[int] = set()
        self.client = socketio.Client(http_session=self.http, reconnection=False)
        self.client.on("dashboard.volunteer", self._on_row)
        self.client.on("dashboard.figures", self._on_figures)
        self.client.connect(
            base_url,
            transports=["websocket"],
            headers={"User-Agent": self.http.headers["User-Agent"]},
            wait_timeout=10,
        )
        reply = self.client.call("dashboard.watch", {"campaign_id": campaign_id}, timeout=10)
        assert reply["ok"], reply
        self.snapshot = reply["state"]

    def _on_row(self, row):
        with self.cond:
            self.pushed.append(row)
            if row["version"] >= self.versions.get(row["session_id"], -1):
                self.versions[row["session_id"]] = row["version"]
                self.applied.append(row)
            self.cond.notify_all()

    def _on_figures(self, message):
        with self.cond:
            self.figure_campaigns.add(message["campaign_id"])
            self.figures.append(message["figures"])
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 10.0, what: str = "a push"):
        """Wait until ``predicate()`` (called under the lock) returns something truthy."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = predicate()
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out waiting for {what}; states: {self.states()}, "
                        f"figures: {[(f['dials'], f['contacts']) for f in self.figures]}"
                    )
                self.cond.wait(remaining)

    def wait_state(self, state: str, timeout: float = 10.0) -> dict:
        return self.wait(
            lambda: self.applied and self.applied[-1]["state"] == state and self.applied[-1],
            timeout,
            what=f"state {state}",
        )

    def wait_figures(self, dials: int, contacts: int, timeout: float = 5.0) -> dict:
        return self.wait(
            lambda: next(
                (
                    f
                    for f in reversed(self.figures)
                    if f["dials"] >= dials and f["contacts"] >= contacts
                ),
                None,
            ),
            timeout,
            what=f"figures with {dials} dials and {contacts} contacts",
        )

    def states(self) -> list[str]:
        """The applied states, consecutive repeats collapsed."""
        out: list[str] = []
        for row in self.applied:
            if not out or out[-1] != row["state"]:
                out.append(row["state"])
        return out

    def close(self):
        if self.client.connected:
            self.client.disconnect()


def in_order(states: list[str], steps: list[set[str]]) -> bool:
    """Whether ``states`` passes through each step (a set of acceptable states) in order."""
    position = 0
    for step in steps:
        while position < len(states) and states[position] not in step:
            position += 1
        if position == len(states):
            return False
        position += 1
    return True


CALL_STEPS = [{"waiting"}, {"dialing", "ringing"}, {"talking"}, {"wrapup"}, {"waiting"}]


def work_one_call(stack, data) -> object:
    """The campaign's volunteer joins, connects audio, goes ready, calls the first voter (who
    answers and stays), hangs up, and records "talked" with a survey answer."""
    volunteer = stack.volunteer(data["volunteers"][0])
    volunteer.join(data["campaign_id"])
    volunteer.connect_audio()
    volunteer.emit("volunteer.ready", {"ready": True})
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    volunteer.wait_state("talking")
    volunteer.emit("call.hangup")
    volunteer.wait_state("wrapup")
    volunteer.submit("talked", {str(data["question_id"]): "Yes"})
    volunteer.wait_state("preview")
    return volunteer


def check_call_seen(lead: Dashboard, session_id: int) -> None:
    lead.wait(lambda: in_order(lead.states(), CALL_STEPS), what="the whole call")
    rows = [r for r in lead.applied if r["session_id"] == session_id]
    assert rows, lead.pushed
    assert {r["campaign_id"] for r in rows} == {lead.campaign_id}
    assert in_order(lead.states(), CALL_STEPS), lead.states()
    calls = [r["totals"]["calls"] for r in rows]
    assert calls == sorted(calls) and calls[0] == 0 and calls[-1] == 1, calls
    assert rows[-1]["totals"]["contacts"] == 1
    assert [r["version"] for r in rows] == sorted(r["version"] for r in rows)
    talking = next(r for r in rows if r["state"] == "talking")
    assert talking["audio"] == {"mode": "browser", "up": True}


def test_lead_sees_a_volunteers_call_and_figures_live(calling_stack):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=3)
    stack.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    lead = Dashboard(
        stack.server.url, add_lead(stack.database_url, data["campaign_id"]), data["campaign_id"]
    )
    try:
        assert lead.snapshot["campaign"]["id"] == data["campaign_id"]
        assert lead.snapshot["volunteers"] == []
        assert lead.snapshot["figures"]["dials"] == 0
        assert lead.snapshot["figures"]["list"]["left_now"] == 3

        volunteer = work_one_call(stack, data)
        session_id = volunteer.state["session"]["id"]
        submitted = time.monotonic()
        check_call_seen(lead, session_id)
        figures = lead.wait_figures(dials=1, contacts=1, timeout=5)
        assert time.monotonic() - submitted < 5
        assert lead.figure_campaigns == {data["campaign_id"]}
        assert figures["dials"] == 1 and figures["contacts"] == 1 and figures["ids"] == 1
        assert figures["buckets"]["contact"] == 1
        assert figures["survey"][0]["answers"] == [{"answer": "Yes", "count": 1}]
        assert figures["list"]["finished"] == 1
        assert sum(b["dials"] for b in figures["per_10_minutes"]) == 1

        # A volunteer may not watch the dashboard.
        refused = volunteer.client.call(
            "dashboard.watch", {"campaign_id": data["campaign_id"]}, timeout=10
        )
        assert refused["ok"] is False

        # The volunteer's page closes: their row says so.
        volunteer.drop_connection()
        row = lead.wait_state("disconnected", timeout=5)
        assert row["session_id"] == session_id and row["ended"] is False
        # No phone number ever reached the lead.
        traffic = repr(lead.pushed) + repr(lead.figures) + repr(lead.snapshot)
        assert not any(n[2:] in traffic for n in data["numbers"])
    finally:
        lead.close()


@pytest.fixture
def two_processes(postgres_url, redis_url, tmp_path):
    """Process B: the calling stack (its emulator sends every webhook to B); process A: a
    second web process. Both on one database and one Redis message queue."""
    b = CallingStack(
        postgres_url,
        tmp_path,
        PHONEBANK_REDIS_URL=redis_url,
        PHONEBANK_SWEEP_INTERVAL_SECONDS="1",
    )
    a = LiveServer(postgres_url, tmp_path, redis_url=redis_url)
    b.start()
    try:
        a.start()
    except Exception:
        b.stop()
        raise
    yield a, b
    a.stop()
    b.stop()  # checks B's log
    check_server_log(a)


def test_dashboard_on_one_process_hears_a_volunteer_on_another(two_processes):
    a, b = two_processes
    assert a.url != b.server.url
    data = seed_campaign(b.app(), people=3)
    b.control.set_scenarios({n: HUMAN_STAYS for n in data["numbers"]})
    lead = Dashboard(a.url, add_lead(b.database_url, data["campaign_id"]), data["campaign_id"])
    try:
        volunteer = work_one_call(b, data)  # the volunteer's socket is on B
        check_call_seen(lead, volunteer.state["session"]["id"])
        figures = lead.wait_figures(dials=1, contacts=1, timeout=5)
        assert figures["ids"] == 1
        assert lead.figure_campaigns == {data["campaign_id"]}
        volunteer.drop_connection()
        lead.wait_state("disconnected", timeout=5)
        # Twilio's callbacks all went to B.
        hooks = b.control.webhooks()
        assert {h["type"] for h in hooks} >= {"twiml", "status"}
        assert all(h["url"].startswith(b.server.url + "/twilio/") for h in hooks), hooks
    finally:
        lead.close()
