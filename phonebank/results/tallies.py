"""Running tallies of calls and answers, kept in the transaction that records each call.

A call adds one row's worth to ``call_tallies`` (its volunteer, its outcome, the hour it was
placed in the campaign's time zone) and one per answer to ``answer_tallies``. What it added is
stored on the call (``Call.tally``), so re-tallying a call whose outcome or duration changed
takes that back and adds the new contribution: tallying is idempotent and always exact.
Results pages read the tallies (a few thousand rows for a million calls); ``rebuild`` recomputes
a campaign's from its calls, after its time zone changes or for calls recorded before tallies.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from phonebank.extensions import db
from phonebank.models import (
    FINAL_CALL_STATUSES,
    AnswerTally,
    Call,
    CallTally,
    Campaign,
    Outcome,
    OutcomeBucket,
    QuestionKind,
    SurveyQuestion,
)

MACHINE = {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
ANSWER_LENGTH = 200


def campaign_zone_name(campaign: Campaign) -> str:
    return campaign.time_zone or current_app.config["TIME_ZONE"]


def campaign_zone(campaign: Campaign) -> ZoneInfo:
    return ZoneInfo(campaign_zone_name(campaign))


def call_time(call: Call) -> datetime:
    """The moment a call counts at: when it was dialed, else when it was made."""
    return call.dialed_at or call.created_at


def contribution(
    call: Call,
    zone: ZoneInfo,
    outcome: Outcome | None,
    questions: dict[int, SurveyQuestion],
    main_id: int | None,
) -> dict[str, Any]:
    """What one call adds to the tallies."""
    local = call_time(call).astimezone(zone)
    contact = outcome is not None and outcome.bucket == OutcomeBucket.CONTACT
    machine = (call.answered_by or "") in MACHINE
    answers = []
    main_answer = ""
    for key, value in (call.answers or {}).items() if contact else ():
        question = questions.get(int(key)) if str(key).isdigit() else None
        if question is None or value in (None, "", []):
            continue
        # "" counts the people who answered a text or multiple-choice question (the words of
        # a text answer go to exports, not tallies; a multiple choice has several answers).
        if question.kind == QuestionKind.TEXT:
            values = [""]
        else:
            listed = value if isinstance(value, list) else [value]
            values = [str(v)[:ANSWER_LENGTH] for v in listed]
            if question.kind == QuestionKind.MULTIPLE:
                values.append("")
        if question.id == main_id and question.kind == QuestionKind.SINGLE:
            main_answer = values[0]
        answers.extend([question.id, v] for v in values)
    return {
        "hour": local.strftime("%Y-%m-%dT%H"),
        "day": local.strftime("%Y-%m-%d"),
        "volunteer": call.volunteer_id,
        "outcome": outcome.id if outcome is not None else 0,
        "dials": 1 if (call.dialed_at is not None or call.provider_sid or call.manual) else 0,
        "contacts": 1 if contact else 0,
        "ids": 1 if contact and main_answer else 0,
        "machines": 1 if machine else 0,
        "talk": int(call.duration_seconds or 0) if contact and not machine else 0,
        "answers": answers,
        "main": main_answer,
    }


def tally_call(call: Call) -> None:
    """Bring the tallies up to date with this call (its outcome, answers and duration now)."""
    campaign = db.session.get(Campaign, call.campaign_id)
    questions = {q.id: q for q in campaign.questions}
    main = next((q for q in campaign.questions if q.is_main), None)
    outcome = db.session.get(Outcome, call.outcome_id) if call.outcome_id else None
    new = contribution(call, campaign_zone(campaign), outcome, questions, main.id if main else None)
    if call.tally == new:
        return
    if call.tally:
        _apply(campaign.id, call.tally, -1)
    _apply(campaign.id, new, +1)
    call.tally = new
    db.session.flush()


def _upsert(table, values: dict, keys: Iterable[str], counters: Iterable[str]) -> None:
    dialect = db.session.get_bind().dialect.name
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).values(**values)
    db.session.execute(
        insert.on_conflict_do_update(
            index_elements=list(keys),
            set_={
                name: getattr(table.c, name) + getattr(insert.excluded, name) for name in counters
            },
        )
    )


def _apply(campaign_id: int, part: dict[str, Any], sign: int) -> None:
    calls = CallTally.__table__
    _upsert(
        calls,
        {
            "campaign_id": campaign_id,
            "local_hour": part["hour"],
            "volunteer_id": part["volunteer"],
            "outcome_id": part["outcome"],
            "calls": sign,
            "dials": sign * part["dials"],
            "contacts": sign * part["contacts"],
            "ids": sign * part["ids"],
            "machines": sign * part["machines"],
            "talk_seconds": sign * part["talk"],
        },
        ("campaign_id", "local_hour", "volunteer_id", "outcome_id"),
        ("calls", "dials", "contacts", "ids", "machines", "talk_seconds"),
    )
    answers = AnswerTally.__table__
    for question_id, answer in part["answers"]:
        _upsert(
            answers,
            {
                "campaign_id": campaign_id,
                "local_day": part["day"],
                "volunteer_id": part["volunteer"],
                "question_id": question_id,
                "answer": answer,
                "main": part["main"],
                "count": sign,
            },
            ("campaign_id", "local_day", "volunteer_id", "question_id", "answer", "main"),
            ("count",),
        )


def rebuild(campaign: Campaign, batch: int = 500) -> int:
    """Re-tally every call of a campaign in its current time zone; returns how many calls.

    Each call's old contribution is taken back and its new one added, a batch at a time with
    a commit after each, so live calling goes on meanwhile and a stop half way loses nothing
    (the next rebuild finishes the job). Used when the zone changes, and for calls recorded
    before tallies existed. Commits.
    """
    campaign_id = campaign.id
    zone_name = campaign_zone_name(campaign)
    count, last = 0, 0
    while True:
        calls = db.session.scalars(
            select(Call)
            .where(Call.campaign_id == campaign_id, Call.id > last, countable())
            .order_by(Call.id)
            .limit(batch)
            .with_for_update(key_share=True)
        ).all()
        if not calls:
            break
        for call in calls:
            tally_call(call)
        count += len(calls)
        last = calls[-1].id
        db.session.commit()
        db.session.expire_all()
    for table in (CallTally, AnswerTally):
        empty = table.calls == 0 if table is CallTally else table.count == 0
        db.session.execute(delete(table).where(table.campaign_id == campaign_id, empty))
    campaign = db.session.get(Campaign, campaign_id)
    campaign.tallies_zone = zone_name
    db.session.commit()
    return count


def countable():
    """Calls that have reached their tallied state: recorded, or over without an outcome."""
    return (Call.outcome_id.is_not(None)) | (Call.status.in_(list(FINAL_CALL_STATUSES)))


def needs_rebuild(campaign: Campaign) -> bool:
    return campaign.tallies_zone != campaign_zone_name(campaign)
