"""A lead steps into a volunteer's call from the dashboard: listen, whisper, barge, stop;
message, pause and end a volunteer's session; a volunteer's raised hand. Live server, the
Twilio emulator, the real twilio SDK and real Socket.IO clients."""

from __future__ import annotations

import threading
import time

import socketio

from phonebank.telephony.twilio_client import build_client
from tests.conftest import login_session
from tests.live_calling import ACCOUNT_SID, AUTH_TOKEN, seed_campaign


class Lead:
    """A lead's dashboard page, as the server sees it: a signed-in Socket.IO client."""

    def __init__(self, stack, email: str):
        self.http = login_session(stack.server.url, email)
        self.rows: list[dict] = []
        self.cond = threading.Condition()
        self.client = socketio.Client(http_session=self.http, reconnection=False)
        self.client.on("dashboard.volunteer", self._on_row)
        self.client.connect(
            stack.server.url,
            transports=["websocket"],
            headers={"User-Agent": self.http.headers["User-Agent"]},
            wait_timeout=10,
        )

    def _on_row(self, row):
        with self.cond:
            self.rows.append(row)
            self.cond.notify_all()

    def call(self, event: str, data: dict) -> dict:
        return self.client.call(event, data, timeout=20)

    def wait_row(self, predicate, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for row in reversed(self.rows):
                    if predicate(row):
                        return row
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching dashboard row; last: {self.rows[-1:]}")
                self.cond.wait(left)

    def close(self):
        if self.client.connected:
            self.client.disconnect()


def _lead(stack, campaign_id: int, email: str = "lead@example.org", member: bool = True):
    from phonebank.extensions import db
    from phonebank.models import CampaignMember, Role
    from tests import factories

    app = stack.app()
    with app.app_context():
        lead = factories.user(Role.LEAD, email=email, name="Lee Lead")
        if member:
            db.session.add(CampaignMember(campaign_id=campaign_id, user_id=lead.id))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return Lead(stack, email)


def _participants(stack, conference: str) -> dict[str, object]:
    client = build_client(ACCOUNT_SID, AUTH_TOKEN, stack.emulator.url)
    [found] = client.conferences.list(friendly_name=conference, status="in-progress", limit=1)
    return {p.call_sid: p for p in client.conferences(found.sid).participants.list()}


def _conference_name(stack, session_id: int) -> str:
    from phonebank.extensions import db
    from phonebank.models import CallingSession

    app = stack.app()
    with app.app_context():
        name = db.session.get(CallingSession, session_id).conference_name
        db.session.remove()
        db.engine.dispose()
    return name


def test_listen_whisper_barge_switch_in_place_then_stop(calling_stack):
    stack = calling_stack
    seeded = seed_campaign(stack.app(), people=3, dialing_mode="preview")
    volunteer = stack.volunteer(seeded["volunteers"][0])
    volunteer.join(seeded["campaign_id"])
    volunteer.connect_audio()
    session_id = volunteer.state["session"]["id"]
    lead = _lead(stack, seeded["campaign_id"])
    try:
        assert lead.call("dashboard.watch", {"campaign_id": seeded["campaign_id"]})["ok"]
        joined = lead.call("monitor.join", {"session_id": session_id})
        assert joined["ok"], joined
        leg = stack.control.client_connect(
            joined["audio"]["token"], {"monitor_session": str(session_id), "mode": "listen"}
        )
        lead_sid = leg["call_sid"]
        conference = _conference_name(stack, session_id)
        deadline = time.monotonic() + 10
        while lead_sid not in _participants(stack, conference):
            assert time.monotonic() < deadline, "the lead never joined the conference"
            time.sleep(0.2)
        listening = _participants(stack, conference)[lead_sid]
        assert (listening.muted, listening.coaching) == (True, True)
        assert listening.call_sid_to_coach == volunteer.audio_sid

        for mode, muted, coaching in (("whisper", False, True), ("barge", False, False)):
            reply = lead.call("monitor.mode", {"session_id": session_id, "mode": mode})
            assert reply == {"ok": True, "mode": mode}
            now = _participants(stack, conference)[lead_sid]
            assert (now.muted, now.coaching) == (muted, coaching), mode
        # Back to listening, still the same leg: nothing was dropped.
        assert lead.call("monitor.mode", {"session_id": session_id, "mode": "listen"})["ok"]
        assert _participants(stack, conference)[lead_sid].muted is True
        updates = stack.control.requests(operation="UpdateParticipant")
        sent = [u["params"] for u in updates if lead_sid in u["path"]]
        assert [p.get("Coaching") for p in sent] == ["true", "false", "true"], sent
        assert sent[0].get("CallSidToCoach") == volunteer.audio_sid

        assert lead.call("monitor.stop", {"session_id": session_id})["ok"]
        stack.control.wait_for_call(lead_sid, timeout=10)
        assert volunteer.state["session"]["audio"]["up"]  # the volunteer's leg stays up
    finally:
        lead.close()


def test_a_lead_not_on_the_campaign_cannot_step_in(calling_stack):
    stack = calling_stack
    seeded = seed_campaign(stack.app(), people=2, dialing_mode="preview")
    volunteer = stack.volunteer(seeded["volunteers"][0])
    volunteer.join(seeded["campaign_id"])
    volunteer.connect_audio()
    session_id = volunteer.state["session"]["id"]
    outsider = _lead(stack, seeded["campaign_id"], email="other-lead@example.org", member=False)
    try:
        for event in ("monitor.join", "lead.message", "lead.pause", "lead.end_session"):
            reply = outsider.call(event, {"session_id": session_id, "text": "hi"})
            assert reply == {"ok": False, "error": "You can't monitor this volunteer."}, event
        refused = outsider.call("dashboard.watch", {"campaign_id": seeded["campaign_id"]})
        assert refused["ok"] is False
        # The volunteer can't call lead actions either.
        reply = volunteer.emit("lead.pause", {"session_id": session_id}, expect_ok=False)
        assert reply["ok"] is False
        assert volunteer.state["session"]["ended"] is False
    finally:
        outsider.close()


def test_message_pause_end_and_raised_hand(calling_stack):
    stack = calling_stack
    seeded = seed_campaign(stack.app(), people=3, dialing_mode="preview")
    volunteer = stack.volunteer(seeded["volunteers"][0])
    volunteer.join(seeded["campaign_id"])
    volunteer.connect_audio()
    session_id = volunteer.state["session"]["id"]
    lead = _lead(stack, seeded["campaign_id"])
    try:
        assert lead.call("dashboard.watch", {"campaign_id": seeded["campaign_id"]})["ok"]
        volunteer.emit("volunteer.raise_hand", {"raised": True})
        assert volunteer.state["session"]["hand_raised"] is True
        lead.wait_row(lambda r: r["session_id"] == session_id and r["hand_raised_at"])

        assert lead.call("lead.message", {"session_id": session_id, "text": "Slow down a bit"})[
            "ok"
        ]
        state = volunteer.wait_for(lambda s: s["session"]["notice"].get("reason") == "lead_message")
        assert state["session"]["notice"]["message"] == "Lee Lead: Slow down a bit"
        assert state["session"]["hand_raised"] is False  # answered
        lead.wait_row(lambda r: r["session_id"] == session_id and not r["hand_raised_at"])

        volunteer.emit("volunteer.ready", {"ready": True})
        volunteer.wait_for(lambda s: s["session"]["ready"])
        assert lead.call("lead.pause", {"session_id": session_id})["ok"]
        volunteer.wait_for(lambda s: not s["session"]["ready"], what="paused by the lead")

        assert lead.call("lead.end_session", {"session_id": session_id})["ok"]
        volunteer.wait_state("ended")
        lead.wait_row(lambda r: r["session_id"] == session_id and r["state"] == "ended")
    finally:
        lead.close()
