"""A volunteer reloads the calling page in the middle of a call: every survey answer, the notes
and the chosen outcome come back, and the server's saved draft is not overwritten."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.live_calling import seed_campaign

HUMAN = {"answer": "human", "ring_seconds": 2, "talk_seconds": None}
TEXT_ANSWER = 'Needs a ride, "soon" — café at 10'
NOTES = "Call back about the ride\nafter 6"


def add_questions(app, campaign_id: int, main_id: int) -> dict[str, int]:
    """A multiple-choice question shown only after "Yes", and a text question."""
    from phonebank.extensions import db
    from phonebank.models import QuestionKind, SurveyQuestion

    with app.app_context():
        days = SurveyQuestion(
            campaign_id=campaign_id,
            position=2,
            kind=QuestionKind.MULTIPLE,
            prompt="Which days can you help?",
            choices=["Saturday", "Sunday", "Weekdays"],
            show_if_question_id=main_id,
            show_if_value="Yes",
        )
        ride = SurveyQuestion(
            campaign_id=campaign_id, position=3, kind=QuestionKind.TEXT, prompt="Anything else?"
        )
        db.session.add_all([days, ride])
        db.session.commit()
        ids = {"days": days.id, "ride": ride.id}
        db.session.remove()
        db.engine.dispose()
    return ids


def server_draft(app) -> dict:
    from phonebank.extensions import db
    from phonebank.models import CallingSession

    with app.app_context():
        session = db.session.query(CallingSession).one()
        draft = dict(session.draft or {})
        db.session.remove()
        db.engine.dispose()
    return draft


def wait_for_draft(app, predicate, what: str, attempts: int = 100) -> dict:
    """The page saves its draft a moment after each change; poll until it has arrived."""
    for _ in range(attempts):
        draft = server_draft(app)
        if predicate(draft):
            return draft
        time.sleep(0.1)
    raise AssertionError(f"the server's draft never showed {what}: {server_draft(app)}")


def complete(draft: dict, ids: dict[str, str]) -> bool:
    answers = draft.get("answers") or {}
    return (
        answers.get(ids["main"]) == "Yes"
        and answers.get(ids["days"]) == ["Saturday", "Sunday"]
        and answers.get(ids["ride"]) == TEXT_ANSWER
        and draft.get("notes") == NOTES
        and draft.get("outcome") == "talked"
    )


def test_a_reload_mid_call_keeps_every_answer(calling_stack, browser):
    stack = calling_stack
    app = stack.app()
    data = seed_campaign(app, people=2)
    extra = add_questions(app, data["campaign_id"], data["question_id"])
    ids = {"main": str(data["question_id"]), **{k: str(v) for k, v in extra.items()}}
    stack.control.set_scenarios({n: HUMAN for n in data["numbers"]})
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, stack.server.url, data["volunteers"][0])
    page.goto(f"{stack.server.url}/calling/{data['campaign_id']}")
    page.click("#audio-browser")
    page.click("#btn-ready")
    page.click("#btn-call")
    expect(page.locator("#state-pill")).to_have_attribute("data-state", "talking")

    page.check(f"input[name='q{ids['main']}'][value='Yes']")
    expect(page.locator(f".question[data-question-id='{ids['days']}']")).to_be_visible()
    page.check(f"input[name='q{ids['days']}'][value='Saturday']")
    page.check(f"input[name='q{ids['days']}'][value='Sunday']")
    page.fill(f"input[name='q{ids['ride']}']", TEXT_ANSWER)
    page.fill("#notes", NOTES)
    page.click(".outcome-btn[data-code='talked']")
    wait_for_draft(app, lambda d: complete(d, ids), "every answer")

    page.reload()
    expect(page.locator("#outcome-card")).to_be_visible()
    expect(page.locator(f"input[name='q{ids['main']}'][value='Yes']")).to_be_checked()
    expect(page.locator(f".question[data-question-id='{ids['days']}']")).to_be_visible()
    expect(page.locator(f"input[name='q{ids['days']}'][value='Saturday']")).to_be_checked()
    expect(page.locator(f"input[name='q{ids['days']}'][value='Sunday']")).to_be_checked()
    expect(page.locator(f"input[name='q{ids['days']}'][value='Weekdays']")).not_to_be_checked()
    expect(page.locator(f"input[name='q{ids['ride']}']")).to_have_value(TEXT_ANSWER)
    expect(page.locator("#notes")).to_have_value(NOTES)
    expect(page.locator(".outcome-btn[data-code='talked']")).to_have_attribute(
        "aria-pressed", "true"
    )
    screenshot(page, "calling-after-reload")

    # The next change after the reload carries the restored answers with it.
    page.fill("#notes", NOTES + ".")
    draft = wait_for_draft(app, lambda d: d.get("notes") == NOTES + ".", "the new notes")
    assert complete({**draft, "notes": NOTES}, ids), draft
    assert errors == [], errors
