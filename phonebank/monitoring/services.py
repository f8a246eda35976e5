"""What a call-centre lead sees: every volunteer's state, the campaign's figures, list progress.

``dashboard_snapshot`` is what a dashboard loads; afterwards it applies pushes:
``dashboard.volunteer`` (one volunteer's row, queued with every ``session.state``, so it leaves
only after commit) and ``dashboard.figures`` (recomputed by one process at most every
FIGURES_INTERVAL seconds for campaigns that changed, and emitted once to the campaign's
dashboard room). Phone numbers never appear here. See docs/monitoring.md.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from phonebank import realtime
from phonebank.calling.state import MACHINE, session_state
from phonebank.campaigns.zones import NO_TIME_ZONE
from phonebank.extensions import db
from phonebank.models import (
    Call,
    CallingSession,
    CallStatus,
    Campaign,
    CampaignMember,
    CampaignTarget,
    Outcome,
    OutcomeBucket,
    QuestionKind,
    Role,
    SocketConnection,
    SurveyQuestion,
    TargetStatus,
    User,
)

BIN_MINUTES = 10
FAILED = (CallStatus.FAILED.value, CallStatus.CANCELED.value)
_dirty: set[int] = set()  # campaigns whose figures changed, in this process
_dirty_lock = threading.Lock()


def dashboard_room(campaign_id: int) -> str:
    return f"dashboard:{campaign_id}"


# --- access --------------------------------------------------------------------------------


def can_monitor(user: User, campaign_id: int) -> bool:
    """Staff monitor every campaign; leads only those they are assigned to."""
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


def monitored_campaigns(user: User) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.name)
    if not user.has_role(Role.STAFF):
        query = query.join(CampaignMember, CampaignMember.campaign_id == Campaign.id).where(
            CampaignMember.user_id == user.id
        )
    return list(db.session.scalars(query))


# --- volunteers ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def volunteer_row(session: CallingSession, connected: bool | None = None) -> dict[str, Any]:
    """One volunteer's line on the dashboard (no phone number, no voter details)."""
    if connected is None:
        connected = (
            db.session.scalar(
                select(func.count())
                .select_from(SocketConnection)
                .where(SocketConnection.user_id == session.user_id)
            )
            > 0
        )
    call = session.current_call
    state = session_state(session, call)
    since = session.state_since
    if call is not None:  # a call moves on without touching the session: time it by the call
        since = {
            "dialing": call.dialed_at,
            "ringing": call.dialed_at,
            "talking": call.answered_at,
            "machine": call.answered_at,
            "wrapup": call.ended_at,
        }.get(state) or since
    if not connected and state != "ended":
        state = "disconnected"
    return {
        "session_id": session.id,
        "version": session.version,
        "campaign_id": session.campaign_id,
        "volunteer": {"id": session.user_id, "name": session.user.name},
        "state": state,
        "state_since": _iso(since),
        "started_at": _iso(session.started_at),
        "ended": session.ended_at is not None,
        "hand_raised_at": _iso(session.hand_raised_at),
        "audio": {
            "mode": session.audio_mode.value if session.audio_mode else None,
            "up": session.audio_up,
        },
        "totals": {
            "calls": session.calls_made,
            "contacts": session.contacts_made,
            "talk_seconds": session.talk_seconds,
        },
    }


def publish_volunteer(session: CallingSession) -> None:
    """Queue this volunteer's row for the campaign's dashboards (sent after commit)."""
    realtime.publish(
        "dashboard.volunteer", volunteer_row(session), room=dashboard_room(session.campaign_id)
    )
    # Figures are recomputed from committed data, so the campaign is marked once this commits.
    realtime.call_after_commit(mark_dirty, session.campaign_id)


def mark_dirty(campaign_id: int) -> None:
    with _dirty_lock:
        _dirty.add(campaign_id)


def take_dirty() -> list[int]:
    with _dirty_lock:
        ids = sorted(_dirty)
        _dirty.clear()
    return ids


def volunteer_rows(campaign_id: int, now: datetime) -> list[dict[str, Any]]:
    """Open sessions, and sessions that ended within the last hour (greyed on the page)."""
    sessions = db.session.scalars(
        select(CallingSession)
        .where(
            CallingSession.campaign_id == campaign_id,
            or_(
                CallingSession.ended_at.is_(None),
                CallingSession.ended_at > now - timedelta(hours=1),
            ),
        )
        .order_by(CallingSession.started_at)
    ).all()
    online = set(
        db.session.scalars(
            select(SocketConnection.user_id).where(
                SocketConnection.user_id.in_([s.user_id for s in sessions])
            )
        )
    )
    return [volunteer_row(s, connected=s.user_id in online) for s in sessions]


# --- figures -------------------------------------------------------------------------------


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def campaign_figures(campaign: Campaign, now: datetime) -> dict[str, Any]:
    """Today's figures (since 00:00 UTC): dials, contacts, IDs, tallies, buckets, rates."""
    since = day_start(now)
    rows = db.session.execute(
        select(Call.dialed_at, Call.status, Call.answered_by, Call.answers, Outcome.bucket)
        .outerjoin(Outcome, Outcome.id == Call.outcome_id)
        .where(Call.campaign_id == campaign.id, Call.dialed_at >= since)
    ).all()
    questions = db.session.scalars(
        select(SurveyQuestion)
        .where(SurveyQuestion.campaign_id == campaign.id)
        .order_by(SurveyQuestion.position, SurveyQuestion.id)
    ).all()
    main = next((q for q in questions if q.is_main), questions[0] if questions else None)
    buckets: Counter[str] = Counter()
    tallies: dict[int, Counter[str]] = {q.id: Counter() for q in questions}
    bins: dict[int, list[int]] = {}
    dials = contacts = ids = machines = failed = 0
    for dialed_at, status, answered_by, answers, bucket in rows:
        dials += 1
        index = int((dialed_at - since).total_seconds() // (BIN_MINUTES * 60))
        slot = bins.setdefault(index, [0, 0])
        slot[0] += 1
        if bucket is not None:
            buckets[bucket.value] += 1
        if bucket == OutcomeBucket.CONTACT:
            contacts += 1
            slot[1] += 1
        if answered_by in MACHINE:
            machines += 1
        if status.value in FAILED:
            failed += 1
        for question_id, answer in (answers or {}).items():
            counter = tallies.get(_int(question_id))
            if counter is None or answer in (None, "", []):
                continue
            for value in answer if isinstance(answer, list) else [answer]:
                counter[str(value)] += 1
            if main is not None and _int(question_id) == main.id and bucket is not None:
                ids += 1
    hours = _volunteer_hours(campaign.id, since, now)
    return {
        "since": since.isoformat(),
        "computed_at": now.isoformat(),
        "dials": dials,
        "contacts": contacts,
        "contact_rate": round(contacts / dials, 3) if dials else None,
        "ids": ids,
        "machine_rate": round(machines / dials, 3) if dials else None,
        "failure_rate": round(failed / dials, 3) if dials else None,
        "volunteer_hours": round(hours, 2),
        "dials_per_volunteer_hour": round(dials / hours, 1) if hours >= 0.05 else None,
        "buckets": {b.value: buckets.get(b.value, 0) for b in OutcomeBucket},
        "survey": [
            {
                "id": q.id,
                "text": q.prompt,
                "main": q is main,
                "answers": [
                    {"answer": answer, "count": count}
                    for answer, count in tallies[q.id].most_common()
                ],
            }
            for q in questions
            if q.kind != QuestionKind.TEXT
        ],
        "per_10_minutes": _bins(bins, since, now),
        "list": list_progress(campaign, now),
    }


def _bins(bins: dict[int, list[int]], since: datetime, now: datetime) -> list[dict[str, Any]]:
    """Every 10 minutes from the first dial of the day to now, empty ones included."""
    if not bins:
        return []
    last = max(max(bins), int((now - since).total_seconds() // (BIN_MINUTES * 60)))
    return [
        {
            "start": (since + timedelta(minutes=BIN_MINUTES * i)).isoformat(),
            "dials": bins.get(i, [0, 0])[0],
            "contacts": bins.get(i, [0, 0])[1],
        }
        for i in range(min(bins), last + 1)
    ]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _volunteer_hours(campaign_id: int, since: datetime, now: datetime) -> float:
    sessions = db.session.execute(
        select(CallingSession.started_at, CallingSession.ended_at).where(
            CallingSession.campaign_id == campaign_id,
            or_(CallingSession.ended_at.is_(None), CallingSession.ended_at > since),
        )
    ).all()
    seconds = 0.0
    for started, ended in sessions:
        start, end = max(started, since), min(ended or now, now)
        seconds += max((end - start).total_seconds(), 0.0)
    return seconds / 3600


def list_progress(campaign: Campaign, now: datetime) -> dict[str, Any]:
    """People left now, waiting for a retry, finished (of whom unreachable for want of a time
    zone), out of the calling window now, and the time until the list runs dry at the last
    half hour's pace."""
    from phonebank.calling.queue import allowed_zone_keys

    later = (CampaignTarget.due_at > now).label("later")
    no_zone = (CampaignTarget.done_reason == NO_TIME_ZONE).label("no_zone")
    rows = db.session.execute(
        select(CampaignTarget.status, CampaignTarget.zone_key, later, no_zone, func.count())
        .where(CampaignTarget.campaign_id == campaign.id)
        .group_by(CampaignTarget.status, CampaignTarget.zone_key, later, no_zone)
    ).all()
    allowed = set(allowed_zone_keys(campaign, now))
    left = waiting = finished = busy = outside = unknown_zone = 0
    for status, zone_key, later, no_zone, count in rows:
        if status == TargetStatus.DONE:
            finished += count
            unknown_zone += count if no_zone else 0
        elif status in (TargetStatus.CLAIMED, TargetStatus.IN_CALL):
            busy += count
        elif later:
            waiting += count
        else:
            left += count
            if zone_key not in allowed:
                outside += count
    recent = db.session.scalar(
        select(func.count()).where(
            and_(Call.campaign_id == campaign.id, Call.dialed_at >= now - timedelta(minutes=30))
        )
    )
    pace = recent / 30 if recent else 0.0  # dials per minute
    remaining = left + waiting + busy
    return {
        "left_now": left,
        "waiting_retry": waiting,
        "with_volunteers": busy,
        "finished": finished,
        "outside_window_now": outside,
        "no_time_zone": unknown_zone,  # finished unreachable: nobody can know their local time
        "total": left + waiting + busy + finished,
        "dials_per_minute": round(pace, 2),
        "minutes_until_dry": round(remaining / pace, 1) if pace and remaining else None,
    }


def dashboard_snapshot(campaign: Campaign) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "status": campaign.status.value,
            "dialing_mode": campaign.dialing_mode.value,
        },
        "volunteers": volunteer_rows(campaign.id, now),
        "figures": campaign_figures(campaign, now),
        "at": now.isoformat(),
    }
