"""Staff read a campaign's results in Chromium, export its calls, download the file and find
in it exactly what the database holds (answers with commas, quotes, newlines, accents and a
formula, neutralised); a lead sees only their campaign; staff add a number to the
do-not-call list from the page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from phonebank.models import Role
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import make_app

TRICKY = 'Yes, "really" — naïve\nsecond line'
FORMULA = '=HYPERLINK("http://evil.example","x")'


def seed_results(database_url: str, lead_id: int) -> dict:
    """A campaign with recorded calls (written as the calling loop writes them)."""
    from phonebank.calling import services as calling
    from phonebank.campaigns import services as campaigns
    from phonebank.extensions import db
    from phonebank.models import (
        Call,
        CallStatus,
        CampaignMember,
        CampaignStatus,
        PhoneType,
        QuestionKind,
        SurveyQuestion,
        TargetStatus,
        User,
    )
    from phonebank.supporters import services as supporters

    app = make_app(database_url)
    with app.app_context():
        campaign = campaigns.create_campaign(
            "Results in the browser", status=CampaignStatus.ACTIVE, caller_id="+12025550100"
        )
        other = campaigns.create_campaign("Someone else's campaign", status=CampaignStatus.ACTIVE)
        main = SurveyQuestion(campaign=campaign, position=1, kind=QuestionKind.SINGLE,
                              prompt="Support?", choices=["Yes", "No"], is_main=True)  # fmt: skip
        note = SurveyQuestion(campaign=campaign, position=2, kind=QuestionKind.TEXT,
                              prompt="Anything else?")  # fmt: skip
        db.session.add_all([main, note, CampaignMember(campaign=campaign, user_id=lead_id)])
        db.session.flush()
        volunteer = db.session.scalar(select(User).where(User.role == Role.VOLUNTEER))
        people = []
        for i in range(4):
            person = supporters.create_person(f"Rita{i}", "Result")
            supporters.add_phone(person, f"+1212555{i + 10:04d}", PhoneType.MOBILE)
            supporters.add_external_id(person, "van", f"{7000 + i}")
            people.append(person)
        campaigns.add_people(campaign, [p.id for p in people])
        plan = [
            ("talked", {str(main.id): "Yes", str(note.id): TRICKY}, FORMULA),
            ("talked", {str(main.id): "No"}, ""),
            ("no_answer", {}, ""),
            ("refused", {}, "Polite"),
        ]
        started = datetime.now(UTC) - timedelta(hours=1)
        for person, (code, answers, notes) in zip(people, plan, strict=True):
            target = db.session.scalar(
                select(calling.CampaignTarget).where(
                    calling.CampaignTarget.campaign_id == campaign.id,
                    calling.CampaignTarget.person_id == person.id,
                )
            )
            target.status = TargetStatus.IN_CALL
            call = Call(
                campaign_id=campaign.id, target_id=target.id, person_id=person.id,
                phone_id=person.phones[0].id, volunteer_id=volunteer.id,
                status=CallStatus.COMPLETED, provider_sid=f"CA{person.id:032d}",
                dialed_at=started, answered_at=started,
                ended_at=started + timedelta(seconds=40), duration_seconds=40,
                answered_by="human" if code != "no_answer" else None,
            )  # fmt: skip
            db.session.add(call)
            db.session.flush()
            outcome = campaigns.outcome_by_code(campaign.id, code)
            calling.record_outcome(call, outcome, answers=answers, notes=notes, by=volunteer)
        db.session.commit()
        result = {
            "campaign_id": campaign.id,
            "other_id": other.id,
            "calls": {
                c.id: (c.person.first_name, c.phone.number, c.answers, c.notes)
                for c in db.session.scalars(select(Call).where(Call.campaign_id == campaign.id))
            },
            "note_prompt": note.prompt,
        }
        db.session.remove()
        db.engine.dispose()
    return result


def test_staff_export_calls_and_the_file_matches_the_database(site, new_context):
    data = seed_results(site.server.database_url, site.users[Role.LEAD][0])
    page = new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, site.url, site.users[Role.STAFF][1])
    page.click("nav >> text=Results")
    page.click("text=Results in the browser")
    expect(page.locator('[data-fig="attempts"]')).to_have_text("4")
    expect(page.locator('[data-fig="contacts"]')).to_have_text("3")
    expect(page.locator('[data-fig="ids"]')).to_have_text("2")
    expect(page.locator("#days-chart")).to_be_visible()
    screenshot(page, "results-campaign")

    page.select_option("#kind", "calls")
    page.check("input[name=full_numbers]")
    page.click("button:has-text('Export')")
    expect(page.locator("#export-download")).to_be_visible(timeout=30_000)
    with page.expect_download() as download_info:
        page.click("#export-download")
    path = download_info.value.path()
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    screenshot(page, "results-export")
    assert len(rows) == len(data["calls"])
    for row in rows:
        first_name, number, answers, notes = data["calls"][int(row["call_id"])]
        assert row["first_name"] == first_name
        assert row["phone"] == "'" + number  # full number, neutralised like every "+" cell
        assert row["van_id"].startswith("70")
        text = next(iter(v for k, v in answers.items() if v == TRICKY), "")
        assert row[data["note_prompt"]] == text
        assert row["notes"] == ("'" + notes if notes.startswith("=") else notes)
    assert any(r[data["note_prompt"]] == TRICKY for r in rows)
    assert errors == []


def test_a_lead_sees_only_their_campaign_and_masked_numbers(site, new_context):
    data = seed_results(site.server.database_url, site.users[Role.LEAD][0])
    page = new_context().new_page()
    sign_in(page, site.url, site.users[Role.LEAD][1])
    page.goto(site.url + "/results")
    expect(page.locator("#campaign-results")).to_contain_text("Results in the browser")
    expect(page.locator("#campaign-results")).not_to_contain_text("Someone else")
    response = page.goto(f"{site.url}/results/campaigns/{data['other_id']}")
    assert response.status == 403
    page.goto(f"{site.url}/results/campaigns/{data['campaign_id']}")
    expect(page.locator("input[name=full_numbers]")).to_have_count(0)
    page.select_option("#kind", "people")
    page.click("button:has-text('Export')")
    expect(page.locator("#export-download")).to_be_visible(timeout=30_000)
    with page.expect_download() as download_info:
        page.click("#export-download")
    text = download_info.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4
    assert all(r["phone"].startswith("•••• ••• ") for r in rows)
    assert not re.search(r"\+1212555\d{4}", text)


def test_staff_add_a_number_to_the_do_not_call_list(site, new_context):
    page = new_context().new_page()
    sign_in(page, site.url, site.users[Role.STAFF][1])
    page.click("nav >> text=Do not call")
    page.fill("#numbers", "(202) 555-0188\n+44 20 7946 0000")
    page.fill("#reason", "Asked on the doorstep")
    page.click("button:has-text('Add to the list')")
    expect(page.locator(".flash")).to_contain_text("2 added")
    expect(page.locator("#dnc-entries")).to_contain_text("+12025550188")
    expect(page.locator("#dnc-entries")).to_contain_text("Asked on the doorstep")
    screenshot(page, "do-not-call")
    page.fill("#q", "0188")
    page.click("button:has-text('Search')")
    expect(page.locator("#dnc-entries tbody tr")).to_have_count(1)
    page.click("#dnc-entries summary:has-text('Remove')")
    page.fill("#dnc-entries input[name=reason]", "Consented in writing")
    page.click("button:has-text('Remove from the list')")
    expect(page.locator(".flash")).to_contain_text("may be called again")
    expect(page.locator("#dnc-history")).to_contain_text("removed")
