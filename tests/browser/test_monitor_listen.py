"""A lead in Chromium watches a volunteer's call appear on the dashboard, clicks Listen, and the
emulator's conference gets the lead as a muted coaching participant; Whisper and Barge switch it
in place. The volunteer is a real Socket.IO client against the live server and the emulator."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from phonebank.telephony.twilio_client import build_client
from tests.browser.conftest import screenshot, sign_in
from tests.live_calling import ACCOUNT_SID, AUTH_TOKEN, seed_campaign

HUMAN = {"answer": "human", "ring_seconds": 1, "talk_seconds": None}


def _add_lead(stack, campaign_id: int) -> str:
    from phonebank.extensions import db
    from phonebank.models import CampaignMember, Role
    from tests import factories

    app = stack.app()
    with app.app_context():
        lead = factories.user(Role.LEAD, email="lead@example.org", name="Lee Lead")
        db.session.add(CampaignMember(campaign_id=campaign_id, user_id=lead.id))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return "lead@example.org"


def _lead_participant(stack, timeout: float = 10.0):
    """The lead's leg (from the monitor_legs row) as a participant of the conference."""
    from phonebank.extensions import db
    from phonebank.models import MonitorLeg

    app = stack.app()
    with app.app_context():
        leg = db.session.query(MonitorLeg).order_by(MonitorLeg.id.desc()).first()
        call_sid = leg.call_sid if leg else None
        db.session.remove()
        db.engine.dispose()
    assert call_sid, "no monitor leg was recorded"
    client = build_client(ACCOUNT_SID, AUTH_TOKEN, stack.emulator.url)
    deadline = time.monotonic() + timeout
    while True:
        for conference in client.conferences.list(status="in-progress", limit=20):
            for participant in client.conferences(conference.sid).participants.list():
                if participant.call_sid == call_sid:
                    return participant
        assert time.monotonic() < deadline, "the lead's leg never joined a conference"
        time.sleep(0.2)


def test_lead_sees_the_call_and_listens_then_whispers(calling_stack, browser):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({n: HUMAN for n in data["numbers"]})
    lead_email = _add_lead(stack, data["campaign_id"])

    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, stack.server.url, lead_email)
    page.click("nav >> text=Monitor")
    page.click(f"#overview a[href='/monitor/{data['campaign_id']}'] >> nth=0")
    expect(page.locator("#dash-updated")).to_have_text("Live")

    volunteer = stack.volunteer(data["volunteers"][0])
    volunteer.join(data["campaign_id"])
    volunteer.connect_audio()
    volunteer.emit("volunteer.ready", {"ready": True})
    volunteer.wait_state("preview")
    volunteer.emit("call.dial")
    volunteer.wait_state("talking")

    row = page.locator(f"#volunteers tr[data-session-id='{volunteer.state['session']['id']}']")
    expect(row).to_have_attribute("data-state", "talking", timeout=15_000)
    expect(page.locator("[data-fig='dials']")).to_have_text("1", timeout=15_000)
    row.locator("button[data-action='listen']").click()
    expect(page.locator("#monitor-status")).to_contain_text("Listening to", timeout=15_000)

    coach = _lead_participant(stack)
    assert (coach.coaching, coach.muted) == (True, True)
    assert coach.call_sid_to_coach == volunteer.audio_sid
    screenshot(page, "monitor-listening")

    page.click("#monitor-bar button[data-mode='whisper']")
    expect(page.locator("#monitor-status")).to_contain_text("Whispering to")
    coach = _lead_participant(stack)
    assert (coach.coaching, coach.muted) == (True, False)

    page.click("#monitor-bar button[data-mode='barge']")
    expect(page.locator("#monitor-status")).to_contain_text("In the call with")
    barging = _lead_participant(stack)
    assert (barging.coaching, barging.muted) == (False, False)

    page.click("#monitor-stop")
    expect(page.locator("#monitor-bar")).to_be_hidden()
    stack.control.wait_for_call(coach.call_sid, timeout=10)
    assert errors == []
