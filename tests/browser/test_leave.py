"""Leaving the calling page mid-call (closing the tab, Back) asks first: the voter would be
left alone on the line and the outcome unrecorded. With no call in hand, nothing is asked."""

from __future__ import annotations

from playwright.sync_api import Error, expect

from tests.browser.conftest import sign_in
from tests.live_calling import seed_campaign

HUMAN = {"answer": "human", "ring_seconds": 2, "talk_seconds": None}


def dialogs_on_close(page) -> list[str]:
    """Try to close the page as a person would; dismiss any dialog (stay on the page)."""
    seen: list[str] = []

    def on_dialog(dialog) -> None:
        seen.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        with page.expect_event("dialog", timeout=10_000):
            page.close(run_before_unload=True)
    except Error:  # the page closed (or nothing came): it did not ask
        return seen
    page.remove_listener("dialog", on_dialog)
    return seen


def test_leaving_mid_call_asks_first(calling_stack, browser):
    stack = calling_stack
    data = seed_campaign(stack.app(), people=2)
    stack.control.set_scenarios({n: HUMAN for n in data["numbers"]})
    page = browser.new_page()
    sign_in(page, stack.server.url, data["volunteers"][0])
    page.goto(f"{stack.server.url}/calling/{data['campaign_id']}")
    page.click("#audio-browser")
    expect(page.locator("#audio-setup")).to_be_hidden()
    page.click("#btn-ready")
    expect(page.locator("#state-pill")).to_have_attribute("data-state", "preview")
    page.click("#btn-call")
    expect(page.locator("#state-pill")).to_have_attribute("data-state", "talking")

    assert dialogs_on_close(page) == ["beforeunload"]
    assert not page.is_closed()  # the volunteer chose to stay
    expect(page.locator("#state-pill")).to_have_attribute("data-state", "talking")

    page.click(".outcome-btn[data-code='talked']")
    page.click("#submit-outcome")
    expect(page.locator("#state-pill")).to_have_attribute("data-state", "preview")
    assert dialogs_on_close(page) == []  # nothing in hand: the page just closes
    assert page.is_closed()
