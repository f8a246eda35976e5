"""A lead watches the campaign's dashboard in Chromium while a volunteer (a python-socketio
client speaking the calling protocol) calls: the volunteer's row appears and follows the call,
and the day's figures rise, without reloading. Real server, the Twilio emulator, PostgreSQL."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from phonebank.models import Role
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import make_app
from tests.live_calling import seed_campaign

HUMAN = {"answer": "human", "ring_seconds": 2, "talk_seconds": None}


def add_lead(database_url: str, campaign_id: int, email: str = "lead@example.org") -> str:
    from phonebank.extensions import db
    from phonebank.models import CampaignMember
    from tests import factories

    app = make_app(database_url)
    with app.app_context():
        lead = factories.user(Role.LEAD, email=email, name="Lena Lead")
        db.session.add(CampaignMember(campaign_id=campaign_id, user_id=lead.id))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return email


def test_lead_watches_a_volunteer_call_live(calling_stack, browser):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=3)
    stack.control.set_scenarios({n: HUMAN for n in data["numbers"]})
    lead_email = add_lead(stack.database_url, data["campaign_id"])
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))

    sign_in(page, stack.server.url, lead_email)
    page.locator("header nav").get_by_role("link", name="Monitor", exact=True).click()
    expect(page).to_have_url(re.compile(r"/monitor$"))
    page.get_by_role("link", name="Live test campaign").click()
    expect(page).to_have_url(re.compile(rf"/monitor/{data['campaign_id']}$"))
    expect(page.locator("#dash-updated")).to_have_text("Live")
    expect(page.locator("#volunteers tbody")).to_contain_text("No one is calling")
    expect(page.locator('[data-fig="dials"]')).to_have_text("0")
    expect(page.locator('#list-progress tr[data-list="left_now"] td')).to_have_text("3")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    volunteer = stack.volunteer(data["volunteers"][0])
    volunteer.join(data["campaign_id"])
    volunteer.connect_audio()
    volunteer.emit("volunteer.ready", {"ready": True})
    volunteer.wait_state("preview")
    session_id = volunteer.state["session"]["id"]
    row = page.locator(f'#volunteers tbody tr[data-session-id="{session_id}"]')
    expect(row).to_have_attribute("data-state", "preview")
    expect(row).to_contain_text("Volunteer")
    expect(page.locator("#volunteer-count")).to_have_text("(1 in a session)")

    volunteer.emit("call.dial")
    expect(row).to_have_attribute("data-state", re.compile(r"^(dialing|ringing|talking)$"))
    volunteer.wait_state("talking")
    expect(row).to_have_attribute("data-state", "talking")
    expect(row.locator(".state")).to_have_text("talking")
    expect(row.locator("td.audio")).to_have_text("up (browser)")
    # The figures loop pushes within a couple of seconds of the change.
    expect(page.locator('[data-fig="dials"]')).to_have_text("1", timeout=6_000)

    volunteer.emit("call.hangup")
    volunteer.wait_state("wrapup")
    expect(row).to_have_attribute("data-state", "wrapup")
    volunteer.submit("talked", {str(data["question_id"]): "Yes"})
    volunteer.wait_state("preview")
    expect(row).to_have_attribute("data-state", "preview")
    expect(page.locator('[data-fig="contacts"]')).to_have_text("1", timeout=6_000)
    expect(page.locator('[data-fig="contact_rate"]')).to_have_text("100%")
    expect(page.locator('[data-fig="ids"]')).to_have_text("1")
    expect(page.locator('#buckets tr[data-bucket="contact"] td')).to_have_text("1")
    expect(page.locator("#survey")).to_contain_text("Support? (IDs)")
    expect(page.locator('#list-progress tr[data-list="finished"] td')).to_have_text("1")
    # Totals in the row: one call, one contact.
    cells = row.locator("td.num")
    expect(cells.nth(1)).to_have_text("1")
    expect(cells.nth(2)).to_have_text("1")
    charted = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('dials-chart'));"
        " return c.data.datasets.map(d => d.data.reduce((a, b) => a + b, 0)); }"
    )
    assert charted == [1, 1]
    assert page.evaluate("window.__sameDocument") is True
    path = screenshot(page, "monitor-dashboard")

    # The volunteer's page closes: the row and an alert say so.
    volunteer.drop_connection()
    expect(row).to_have_attribute("data-state", "disconnected")
    expect(page.locator("#alerts-card")).to_be_visible()
    expect(page.locator("#alerts")).to_contain_text("page is disconnected")
    screenshot(page, "monitor-dashboard-disconnected")
    html = page.content()
    assert not any(number[2:] in html for number in data["numbers"])
    assert errors == []
    assert path.exists()
