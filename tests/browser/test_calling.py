"""A volunteer works the calling loop in Chromium: sign in, join, connect audio (the emulator's
stand-in for the Voice SDK), get a voter, call, record an outcome with survey answers, get the
next voter. Runs against the real server and the Twilio emulator."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import screenshot, sign_in
from tests.live_calling import seed_campaign

HUMAN = {"answer": "human", "ring_seconds": 2, "talk_seconds": None}


def test_volunteer_calls_records_outcome_and_gets_next_voter(calling_stack, browser):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=3)
    stack.control.set_scenarios({n: HUMAN for n in data["numbers"]})
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, stack.server.url, data["volunteers"][0])

    page.goto(f"{stack.server.url}/calling/{data['campaign_id']}")
    expect(page.locator("#audio-setup")).to_be_visible()
    page.click("#mic-test")
    expect(page.locator("#mic-result")).to_contain_text("microphone", timeout=10_000)
    page.click("#audio-browser")
    expect(page.locator("#audio-setup")).to_be_hidden()
    page.click("#btn-ready")
    expect(page.locator("#state-pill")).to_have_attribute("data-state", "preview")
    first_voter = page.locator("#voter-name").inner_text()
    assert first_voter.startswith("Voter")
    expect(page.locator("#script")).to_contain_text("Hi Voter")
    screenshot(page, "calling-preview")

    page.click("#btn-call")
    expect(page.locator("#state-pill")).to_have_attribute("data-state", "talking")
    expect(page.locator("#outcome-card")).to_be_visible()
    page.check(f"input[name='q{data['question_id']}'][value='Yes']")
    page.keyboard.press("1")  # the "Talked to them" shortcut
    expect(page.locator(".outcome-btn[data-code='talked']")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.fill("#notes", "Will vote yes")
    screenshot(page, "calling-talking")
    page.click("#submit-outcome")

    expect(page.locator("#state-pill")).to_have_attribute("data-state", "preview")
    expect(page.locator("#voter-name")).not_to_have_text(first_voter)
    expect(page.locator("#total-calls")).to_have_text("1")
    expect(page.locator("#total-contacts")).to_have_text("1")

    from phonebank.extensions import db
    from phonebank.models import Activity

    app = stack.app()
    with app.app_context():
        activity = db.session.scalars(select(Activity).where(Activity.kind == "call")).one()
        assert activity.payload["outcome"] == "talked"
        assert activity.payload["notes"] == "Will vote yes"
        assert activity.payload["answers"][0]["answer"] == "Yes"
        db.session.remove()
        db.engine.dispose()
    # No full phone number anywhere in the page.
    html = page.content()
    assert not any(number[2:] in html for number in data["numbers"])
    assert errors == []


def test_calling_page_fits_a_phone_screen(calling_stack, phone_browser):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({n: HUMAN for n in data["numbers"]})
    page = phone_browser.new_page()
    sign_in(page, stack.server.url, data["volunteers"][0])
    page.goto(f"{stack.server.url}/calling/{data['campaign_id']}")
    page.click("#audio-browser")
    page.click("#btn-ready")
    expect(page.locator("#btn-call")).to_be_visible()
    page.click("#btn-call")
    expect(page.locator("#outcome-card")).to_be_visible()
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390
    expect(page.locator("#btn-hangup")).to_be_in_viewport()
    screenshot(page, "calling-phone")
