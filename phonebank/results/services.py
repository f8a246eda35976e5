"""Results figures for staff and leads, read from the tallies (``results/tallies.py``) and the
call list, over a range of days in the campaign's own time zone.

Definitions (PRODUCT.md, after ThruTalk's glossary): *attempts* are every try, *dials* the
attempts actually placed, *contacts* calls recorded with a contact outcome, *IDs* contacts who
answered the main survey question; contact rate = contacts ÷ dials; dials per hour = dials ÷
hours in calling sessions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select

from phonebank.extensions import db
from phonebank.models import (
    AnswerTally,
    CallingSession,
    CallTally,
    Campaign,
    CampaignMember,
    CampaignTarget,
    Outcome,
    OutcomeBucket,
    QuestionKind,
    Role,
    SurveyQuestion,
    TargetStatus,
    User,
)
from phonebank.results.tallies import campaign_zone, campaign_zone_name, needs_rebuild

# Why a finished person was not reached, for list progress (finish_target's reasons).
UNREACHABLE = {
    "no_good_phone": "No working number left",
    "not_callable": "Can no longer be called (flag or do-not-call)",
    "max_attempts": "Tried as often as the campaign allows",
    "no_time_zone": "No time zone can be known for them",
}


@dataclass(frozen=True)
class Period:
    """Local days ``start``..``end`` inclusive (None: open) in one time zone."""

    start: date | None
    end: date | None

    def hours(self) -> tuple[str | None, str | None]:
        """Bounds for ``local_hour`` text: [start, end) as "YYYY-MM-DDTHH"."""
        return (
            self.start.isoformat() + "T00" if self.start else None,
            (self.end + timedelta(days=1)).isoformat() + "T00" if self.end else None,
        )

    def days(self) -> tuple[str | None, str | None]:
        return (
            self.start.isoformat() if self.start else None,
            (self.end + timedelta(days=1)).isoformat() if self.end else None,
        )

    def utc_bounds(self, zone) -> tuple[datetime | None, datetime | None]:
        """The same days as UTC instants, for tables keyed by time (sessions, calls)."""

        def at(day: date) -> datetime:
            return datetime.combine(day, time(), zone).astimezone(UTC)

        return (
            at(self.start) if self.start else None,
            at(self.end + timedelta(days=1)) if self.end else None,
        )


def parse_period(start: str | None, end: str | None) -> Period:
    """Dates from a form (``YYYY-MM-DD``, blank for open); a reversed range is put right."""

    def day(value: str | None) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except ValueError:
            return None

    first, last = day(start), day(end)
    if first and last and first > last:
        first, last = last, first
    return Period(first, last)


def _in(column, bounds: tuple[str | None, str | None]):
    low, high = bounds
    conditions = []
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column < high)
    return conditions


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- access --------------------------------------------------------------------------------


def can_see_results(user: User, campaign_id: int) -> bool:
    """Staff see every campaign; leads the campaigns they are assigned to; volunteers none."""
    if not user.is_authenticated or not user.is_active_account:
        return False
    if user.has_role(Role.STAFF):
        return True
    if not user.has_role(Role.LEAD):
        return False
    return (
        db.session.scalar(
            select(CampaignMember.id).where(
                CampaignMember.campaign_id == campaign_id, CampaignMember.user_id == user.id
            )
        )
        is not None
    )


def visible_campaigns(user: User) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.name)
    if not user.has_role(Role.STAFF):
        query = query.join(CampaignMember).where(CampaignMember.user_id == user.id)
    return list(db.session.scalars(query))


# --- one campaign --------------------------------------------------------------------------


def headline(campaign_id: int, period: Period) -> dict[str, Any]:
    """Attempts, dials, contacts, IDs, machines and talk time, and the rates."""
    row = db.session.execute(
        select(
            func.coalesce(func.sum(CallTally.calls), 0),
            func.coalesce(func.sum(CallTally.dials), 0),
            func.coalesce(func.sum(CallTally.contacts), 0),
            func.coalesce(func.sum(CallTally.ids), 0),
            func.coalesce(func.sum(CallTally.machines), 0),
            func.coalesce(func.sum(CallTally.talk_seconds), 0),
        ).where(CallTally.campaign_id == campaign_id, *_in(CallTally.local_hour, period.hours()))
    ).one()
    attempts, dials, contacts, ids, machines, talk = (int(v) for v in row)
    return {
        "attempts": attempts,
        "dials": dials,
        "contacts": contacts,
        "contact_rate": _rate(contacts, dials),
        "ids": ids,
        "id_rate": _rate(ids, contacts),
        "machines": machines,
        "machine_rate": _rate(machines, dials),
        "talk_seconds": talk,
    }


def outcomes(campaign_id: int, period: Period) -> dict[str, Any]:
    """Calls by outcome and by bucket (with "none recorded" for calls without one)."""
    rows = db.session.execute(
        select(CallTally.outcome_id, func.sum(CallTally.calls))
        .where(CallTally.campaign_id == campaign_id, *_in(CallTally.local_hour, period.hours()))
        .group_by(CallTally.outcome_id)
    ).all()
    counts = {outcome_id: int(n) for outcome_id, n in rows}
    listed = db.session.scalars(
        select(Outcome).where(Outcome.campaign_id == campaign_id).order_by(Outcome.position)
    ).all()
    by_outcome = [
        {"code": o.code, "label": o.label, "bucket": o.bucket.value, "count": counts.get(o.id, 0)}
        for o in listed
        if counts.get(o.id) or o.active
    ]
    buckets = {b.value: 0 for b in OutcomeBucket}
    for item in by_outcome:
        buckets[item["bucket"]] += item["count"]
    total = sum(counts.values())
    return {
        "by_outcome": by_outcome,
        "by_bucket": buckets,
        "none_recorded": counts.get(0, 0),
        "total": total,
    }


def survey(campaign_id: int, period: Period, crosstab_id: int | None = None) -> dict[str, Any]:
    """Per question: each answer's count and its share of the people who answered it; and the
    main question's answers against one other question's (counts of calls with both)."""
    questions = db.session.scalars(
        select(SurveyQuestion)
        .where(SurveyQuestion.campaign_id == campaign_id)
        .order_by(SurveyQuestion.position, SurveyQuestion.id)
    ).all()
    main = next((q for q in questions if q.is_main), None)
    rows = db.session.execute(
        select(
            AnswerTally.question_id,
            AnswerTally.answer,
            AnswerTally.main,
            func.sum(AnswerTally.count),
        )
        .where(AnswerTally.campaign_id == campaign_id, *_in(AnswerTally.local_day, period.days()))
        .group_by(AnswerTally.question_id, AnswerTally.answer, AnswerTally.main)
    ).all()
    per_answer: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    pairs: dict[tuple[int, str, str], int] = defaultdict(int)
    for question_id, answer, main_answer, count in rows:
        per_answer[question_id][answer] += int(count)
        pairs[(question_id, answer, main_answer)] += int(count)
    result = []
    for q in questions:
        counts = per_answer.get(q.id, {})
        if q.kind == QuestionKind.TEXT:
            answered = counts.get("", 0)
            result.append(
                {
                    "id": q.id,
                    "prompt": q.prompt,
                    "kind": q.kind.value,
                    "main": q is main,
                    "answered": answered,
                    "answers": [],
                }  # fmt: skip
            )
            continue
        choices = list(q.choices) + sorted(set(counts) - set(q.choices) - {""})
        # People who answered: for a multiple choice its "" row (one per call), else the sum.
        answered = counts.get("", 0) if q.kind == QuestionKind.MULTIPLE else sum(counts.values())
        result.append(
            {
                "id": q.id,
                "prompt": q.prompt,
                "kind": q.kind.value,
                "main": q is main,
                "answered": answered,
                "answers": [
                    {
                        "answer": c,
                        "count": counts.get(c, 0),
                        "share": _rate(counts.get(c, 0), answered),
                    }
                    for c in choices
                ],
            }
        )
    crosstab = None
    other = next((q for q in questions if q.id == crosstab_id and q is not main), None)
    if main is not None and other is not None and other.kind != QuestionKind.TEXT:
        columns = list(main.choices)
        table = []
        extra = {a for (qid, a, _m) in pairs if qid == other.id} - set(other.choices) - {""}
        for answer in list(other.choices) + sorted(extra):
            cells = [pairs.get((other.id, answer, col), 0) for col in columns]
            table.append(
                {"answer": answer, "cells": cells, "no_main": pairs.get((other.id, answer, ""), 0)}
            )
        crosstab = {"main": main.prompt, "other": other.prompt, "columns": columns, "rows": table}
    return {
        "questions": result,
        "main_id": main.id if main else None,
        "crosstab": crosstab,
        "crosstab_choices": [
            {"id": q.id, "prompt": q.prompt}
            for q in questions
            if q is not main and q.kind != QuestionKind.TEXT
        ],
    }


def series(campaign_id: int, period: Period) -> dict[str, Any]:
    """Dials and contacts per local day and per hour of the day."""
    rows = db.session.execute(
        select(CallTally.local_hour, func.sum(CallTally.dials), func.sum(CallTally.contacts))
        .where(CallTally.campaign_id == campaign_id, *_in(CallTally.local_hour, period.hours()))
        .group_by(CallTally.local_hour)
        .order_by(CallTally.local_hour)
    ).all()
    days: dict[str, list[int]] = {}
    hours = [[0, 0] for _ in range(24)]
    for local_hour, dials, contacts in rows:
        day = days.setdefault(local_hour[:10], [0, 0])
        day[0] += int(dials)
        day[1] += int(contacts)
        hour = hours[int(local_hour[11:13])]
        hour[0] += int(dials)
        hour[1] += int(contacts)
    if days:  # every day of the range shown, calls or not
        first = date.fromisoformat(min(days))
        last = date.fromisoformat(max(days))
        filled = {}
        day = first
        while day <= last:
            filled[day.isoformat()] = days.get(day.isoformat(), [0, 0])
            day += timedelta(days=1)
        days = filled
    return {
        "days": [{"day": d, "dials": v[0], "contacts": v[1]} for d, v in days.items()],
        "hours": [{"hour": h, "dials": v[0], "contacts": v[1]} for h, v in enumerate(hours)],
    }


def list_progress(campaign_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Where everyone on the call list stands now: left, waiting for a retry, with a volunteer,
    finished reached, and finished unreachable (with why)."""
    now = now or datetime.now(UTC)
    later = (CampaignTarget.due_at > now).label("later")
    rows = db.session.execute(
        select(CampaignTarget.status, CampaignTarget.done_reason, later, func.count())
        .where(CampaignTarget.campaign_id == campaign_id)
        .group_by(CampaignTarget.status, CampaignTarget.done_reason, later)
    ).all()
    left = waiting = busy = reached = 0
    unreachable: dict[str, int] = defaultdict(int)
    for status, reason, is_later, count in rows:
        if status == TargetStatus.DONE:
            if reason in UNREACHABLE or reason in ("wrong_number", "disconnected", "fax"):
                unreachable[reason] += count
            else:
                reached += count
        elif status in (TargetStatus.CLAIMED, TargetStatus.IN_CALL):
            busy += count
        elif is_later:
            waiting += count
        else:
            left += count
    total = left + waiting + busy + reached + sum(unreachable.values())
    return {
        "total": total,
        "left": left,
        "waiting_retry": waiting,
        "with_volunteers": busy,
        "finished": reached,
        "unreachable": [
            {
                "reason": reason,
                "label": UNREACHABLE.get(reason, reason.replace("_", " ")),
                "count": n,
            }  # fmt: skip
            for reason, n in sorted(unreachable.items(), key=lambda kv: -kv[1])
        ],
        "unreachable_total": sum(unreachable.values()),
        "done_share": _rate(reached + sum(unreachable.values()), total),
    }


def volunteers(campaign_ids: list[int], period: Period, zone) -> list[dict[str, Any]]:
    """Per volunteer: sessions, hours, dials, contacts, contact rate, dials per hour, talk
    time and IDs, over these campaigns and days."""
    if not campaign_ids:
        return []
    tallied = db.session.execute(
        select(
            CallTally.volunteer_id,
            func.sum(CallTally.calls),
            func.sum(CallTally.dials),
            func.sum(CallTally.contacts),
            func.sum(CallTally.ids),
            func.sum(CallTally.talk_seconds),
        )
        .where(CallTally.campaign_id.in_(campaign_ids), *_in(CallTally.local_hour, period.hours()))
        .group_by(CallTally.volunteer_id)
    ).all()
    low, high = period.utc_bounds(zone)
    now = datetime.now(UTC)
    conditions = [CallingSession.campaign_id.in_(campaign_ids)]
    if high is not None:
        conditions.append(CallingSession.started_at < high)
    if low is not None:
        conditions.append((CallingSession.ended_at.is_(None)) | (CallingSession.ended_at > low))
    sessions: dict[int, list[float]] = defaultdict(lambda: [0, 0.0])
    for user_id, started, ended in db.session.execute(
        select(CallingSession.user_id, CallingSession.started_at, CallingSession.ended_at).where(
            *conditions
        )
    ):
        start = max(started, low) if low else started
        end = min(ended or now, high) if high else (ended or now)
        sessions[user_id][0] += 1
        sessions[user_id][1] += max((end - start).total_seconds(), 0.0) / 3600
    ids = {row[0] for row in tallied} | set(sessions)
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
    rows = []
    by_user = {row[0]: row[1:] for row in tallied}
    for user_id in ids:
        attempts, dials, contacts, id_count, talk = (
            int(v or 0) for v in by_user.get(user_id, (0,) * 5)
        )
        count, hours = sessions.get(user_id, (0, 0.0))
        rows.append(
            {
                "id": user_id,
                "name": names.get(user_id, f"User {user_id}"),
                "sessions": count,
                "hours": round(hours, 2),
                "attempts": attempts,
                "dials": dials,
                "contacts": contacts,
                "contact_rate": _rate(contacts, dials),
                "dials_per_hour": round(dials / hours, 1) if hours >= 0.05 else None,
                "talk_seconds": talk,
                "ids": id_count,
            }
        )
    return sorted(rows, key=lambda r: (-r["dials"], r["name"]))


def campaign_results(
    campaign: Campaign, period: Period, crosstab_id: int | None = None
) -> dict[str, Any]:
    return {
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "zone": campaign_zone_name(campaign),
        },
        "period": {
            "start": period.start.isoformat() if period.start else None,
            "end": period.end.isoformat() if period.end else None,
        },
        "stale": needs_rebuild(campaign),
        "headline": headline(campaign.id, period),
        "outcomes": outcomes(campaign.id, period),
        "survey": survey(campaign.id, period, crosstab_id),
        "series": series(campaign.id, period),
        "list": list_progress(campaign.id),
        "volunteers": volunteers([campaign.id], period, campaign_zone(campaign)),
    }


# --- across campaigns ----------------------------------------------------------------------


def overview(user: User, period: Period) -> dict[str, Any]:
    """For staff (and leads, over their campaigns): headline figures per campaign, and the
    calls per day across them (each campaign's days in its own zone)."""
    campaigns = visible_campaigns(user)
    ids = [c.id for c in campaigns]
    per_campaign = []
    for campaign in campaigns:
        figures = headline(campaign.id, period)
        per_campaign.append({"id": campaign.id, "name": campaign.name,
                             "status": campaign.status.value, **figures})  # fmt: skip
    days: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    if ids:
        day = func.substr(CallTally.local_hour, literal_column("1"), literal_column("10"))
        rows = db.session.execute(
            select(
                day,
                func.sum(CallTally.calls),
                func.sum(CallTally.dials),
                func.sum(CallTally.contacts),
                func.sum(CallTally.ids),
            )
            .where(CallTally.campaign_id.in_(ids), *_in(CallTally.local_hour, period.hours()))
            .group_by(day)
        ).all()
        for day, attempts, dials, contacts, id_count in rows:
            days[day] = [int(attempts), int(dials), int(contacts), int(id_count)]
    totals = {
        key: sum(c[key] for c in per_campaign)
        for key in ("attempts", "dials", "contacts", "ids", "talk_seconds")
    }
    totals["contact_rate"] = _rate(totals["contacts"], totals["dials"])
    return {
        "campaigns": per_campaign,
        "totals": totals,
        "days": [
            {"day": d, "attempts": v[0], "dials": v[1], "contacts": v[2], "ids": v[3]}
            for d, v in sorted(days.items())
        ],
    }


def volunteer_own_line(user: User, zone_name: str) -> dict[str, Any] | None:
    """A volunteer's own totals, all campaigns, all time (their home page)."""
    from zoneinfo import ZoneInfo

    campaign_ids = list(
        db.session.scalars(
            select(CallTally.campaign_id).where(CallTally.volunteer_id == user.id).distinct()
        )
    )
    rows = volunteers(campaign_ids, Period(None, None), ZoneInfo(zone_name))
    return next((r for r in rows if r["id"] == user.id), None)
