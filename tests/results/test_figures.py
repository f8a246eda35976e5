"""Results figures from a seeded campaign, exactly, on SQLite and PostgreSQL: headline, outcomes,
survey tallies and crosstab, days and hours in the campaign's time zone, list progress,
volunteers; the tallies agree with the calls after corrections, and a rebuild gives the same."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from phonebank.calling import services as calling
from phonebank.extensions import db
from phonebank.models import QuestionKind, SurveyQuestion
from phonebank.results import services as results
from phonebank.results import tallies
from tests.calling.helpers import (
    NOW,
    amd,
    answer,
    dial,
    enlist,
    make_campaign,
    make_person,
    open_session,
    submit,
    twilio,
    volunteer,
)

ALL_TIME = results.Period(None, None)


@pytest.fixture
def seeded(db, clock):
    """Two volunteers, seven calls across the New York midnight of 10–11 June 2026."""
    campaign = make_campaign("Results", voicemail_text="")
    main = SurveyQuestion(
        campaign_id=campaign.id, position=0, kind=QuestionKind.SINGLE, prompt="Support?",
        choices=["Yes", "No", "Unsure"], is_main=True,
    )  # fmt: skip
    helps = SurveyQuestion(
        campaign_id=campaign.id, position=1, kind=QuestionKind.MULTIPLE, prompt="Help how?",
        choices=["Phone", "Doors"],
    )  # fmt: skip
    comment = SurveyQuestion(
        campaign_id=campaign.id, position=2, kind=QuestionKind.TEXT, prompt="Anything else?"
    )
    db.session.add_all([main, helps, comment])
    db.session.flush()
    db.session.expire(campaign, ["questions"])
    # People in Alaska, so that calls can be made at New York's midnight (20:30 there).
    enlist(
        campaign,
        *(make_person(f"P{i}", zone="America/Anchorage", state="AK") for i in range(8)),
    )
    ann, bob = volunteer("Ann"), volunteer("Bob")
    a, b = open_session(campaign, ann), open_session(campaign, bob)
    q = {"main": str(main.id), "helps": str(helps.id), "comment": str(comment.id)}

    def talk(session, code, answers=None, seconds=60):
        call = dial(session, clock)
        answer(call)
        clock.advance(seconds=seconds)
        submit(session, call, code, answers=answers or {})
        twilio(call, "completed", 3, duration=seconds)
        return call

    # 10 June, 12:00 New York
    talk(a, "talked", {q["main"]: "Yes", q["helps"]: ["Phone", "Doors"], q["comment"]: "Hi"})
    busy = dial(a, clock)
    twilio(busy, "busy", 1)
    talk(a, "refused", seconds=30)
    silent = dial(b, clock)
    twilio(silent, "no-answer", 1)
    machine = dial(b, clock)
    answer(machine)
    amd(machine, "machine_start")
    twilio(machine, "completed", 3, duration=5)
    # 23:30 in New York on 10 June (03:30 UTC on the 11th): still the 10th locally.
    clock.set(NOW.replace(hour=3, minute=30) + timedelta(days=1))
    talk(b, "talked", {q["main"]: "No", q["helps"]: ["Phone"]}, seconds=45)
    # 00:30 on 11 June in New York.
    clock.set(NOW.replace(hour=4, minute=30) + timedelta(days=1))
    talk(b, "talked", {q["main"]: "Unsure"}, seconds=15)
    db.session.commit()
    return {"campaign": campaign, "q": q, "ann": ann, "bob": bob, "main": main, "helps": helps}


def test_headline_and_outcomes(seeded):
    campaign = seeded["campaign"]
    figures = results.headline(campaign.id, ALL_TIME)
    assert figures == {
        "attempts": 7,
        "dials": 7,
        "contacts": 4,
        "contact_rate": round(4 / 7, 4),
        "ids": 3,
        "id_rate": 0.75,
        "machines": 1,
        "machine_rate": round(1 / 7, 4),
        "talk_seconds": 60 + 30 + 45 + 15,
    }
    by = {o["code"]: o["count"] for o in results.outcomes(campaign.id, ALL_TIME)["by_outcome"]}
    assert (by["talked"], by["refused"], by["busy"], by["no_answer"], by["machine"]) == (
        3,
        1,
        1,
        1,
        1,
    )
    buckets = results.outcomes(campaign.id, ALL_TIME)["by_bucket"]
    assert buckets == {"contact": 4, "retry": 3, "bad_number": 0, "never": 0}


def test_days_follow_the_campaigns_time_zone(seeded):
    campaign = seeded["campaign"]
    tenth = results.Period(date(2026, 6, 10), date(2026, 6, 10))
    eleventh = results.Period(date(2026, 6, 11), date(2026, 6, 11))
    assert results.headline(campaign.id, tenth)["attempts"] == 6
    assert results.headline(campaign.id, eleventh)["attempts"] == 1
    days = results.series(campaign.id, ALL_TIME)["days"]
    assert [(d["day"], d["dials"], d["contacts"]) for d in days] == [
        ("2026-06-10", 6, 3),
        ("2026-06-11", 1, 1),
    ]
    hours = {h["hour"]: h["dials"] for h in results.series(campaign.id, ALL_TIME)["hours"]}
    assert (hours[12], hours[23], hours[0]) == (5, 1, 1)
    # In London the late call falls on the 11th, and hours move by five.
    campaign.time_zone = "Europe/London"
    tallies.rebuild(campaign)
    db.session.commit()
    assert results.headline(campaign.id, tenth)["attempts"] == 5
    assert results.headline(campaign.id, eleventh)["attempts"] == 2
    hours = {h["hour"]: h["dials"] for h in results.series(campaign.id, ALL_TIME)["hours"]}
    assert (hours[17], hours[4], hours[5]) == (5, 1, 1)


def test_survey_counts_shares_and_crosstab(seeded):
    campaign, helps = seeded["campaign"], seeded["helps"]
    survey = results.survey(campaign.id, ALL_TIME, crosstab_id=helps.id)
    support, helping, comments = survey["questions"]
    assert support["answered"] == 3
    assert [(a["answer"], a["count"], a["share"]) for a in support["answers"]] == [
        ("Yes", 1, round(1 / 3, 4)),
        ("No", 1, round(1 / 3, 4)),
        ("Unsure", 1, round(1 / 3, 4)),
    ]
    assert helping["answered"] == 2  # people, though three answers were given
    assert [(a["answer"], a["count"], a["share"]) for a in helping["answers"]] == [
        ("Phone", 2, 1.0),
        ("Doors", 1, 0.5),
    ]
    assert comments["answered"] == 1 and comments["answers"] == []
    crosstab = survey["crosstab"]
    assert crosstab["columns"] == ["Yes", "No", "Unsure"]
    assert [(r["answer"], r["cells"]) for r in crosstab["rows"]] == [
        ("Phone", [1, 1, 0]),
        ("Doors", [1, 0, 0]),
    ]


def test_volunteers_and_list_progress(seeded):
    campaign = seeded["campaign"]
    rows = {
        r["name"]: r
        for r in results.volunteers([campaign.id], ALL_TIME, tallies.campaign_zone(campaign))
    }
    assert (rows["Ann"]["dials"], rows["Ann"]["contacts"], rows["Ann"]["ids"]) == (3, 2, 1)
    assert (rows["Bob"]["dials"], rows["Bob"]["contacts"], rows["Bob"]["ids"]) == (4, 2, 2)
    assert rows["Ann"]["talk_seconds"] == 90 and rows["Bob"]["sessions"] == 1
    progress = results.list_progress(campaign.id, NOW)
    assert progress["total"] == 8
    assert progress["finished"] == 4  # talked x3, refused
    assert progress["left"] + progress["waiting_retry"] + progress["with_volunteers"] == 4


def test_a_correction_moves_the_tallies_and_a_rebuild_agrees(seeded, clock):
    campaign, q = seeded["campaign"], seeded["q"]
    session = open_session(campaign, volunteer("Cy"))
    call = dial(session, clock)
    answer(call)
    amd(call, "machine_start")
    twilio(call, "completed", 3, duration=8)
    before = results.headline(campaign.id, ALL_TIME)
    submit(session, call, "talked", answers={q["main"]: "Yes"})  # AMD was wrong
    db.session.commit()
    after = results.headline(campaign.id, ALL_TIME)
    assert after["attempts"] == before["attempts"]
    assert (after["contacts"], after["ids"]) == (before["contacts"] + 1, before["ids"] + 1)
    assert after["machines"] == before["machines"]  # AMD's answer stays on the call
    survey_before = results.survey(campaign.id, ALL_TIME)
    tallies.rebuild(campaign)
    db.session.commit()
    assert results.headline(campaign.id, ALL_TIME) == after
    assert results.survey(campaign.id, ALL_TIME) == survey_before
    assert calling  # (the services under test)
