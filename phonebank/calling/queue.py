"""The next-voter queue.

Claiming is one atomic ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)``:
on PostgreSQL concurrent claimers skip each other's rows; on SQLite the single writer makes the
same statement atomic. A partial unique index allows one person in at most one claim or call
across all campaigns; a claim that would break it is retried with the next candidate.

A claim holds for a lease (``PHONEBANK_CLAIM_LEASE_SECONDS``); a claim not dialed by then goes
back to the queue. A target whose call is under way (``in_call``) never does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from phonebank.campaigns.hours import (
    CampaignWindow,
    allowed_at,
    max_calls_per_24h,
    next_allowed_at,
)
from phonebank.extensions import db
from phonebank.models import (
    Call,
    CallingSession,
    Campaign,
    CampaignTarget,
    DoNotCallNumber,
    Person,
    Phone,
    PhoneStatus,
    SocketConnection,
    TargetStatus,
    User,
    utcnow,
)

log = logging.getLogger(__name__)


class NothingToCall(Exception):
    """No one in this campaign can be called right now; ``reason`` says why."""

    def __init__(self, reason: str, next_at: datetime | None = None):
        super().__init__(reason)
        self.reason = reason
        self.next_at = next_at


@dataclass
class Claim:
    target: CampaignTarget
    phone: Phone


def lease_seconds() -> int:
    return int(current_app.config["CLAIM_LEASE_SECONDS"])


def _good_phone_exists():
    return exists().where(
        Phone.person_id == CampaignTarget.person_id,
        Phone.status == PhoneStatus.OK,
        ~exists().where(DoNotCallNumber.number == Phone.number),
    )


def _callable_person():
    return exists().where(
        Person.id == CampaignTarget.person_id,
        Person.do_not_call.is_(False),
        Person.deceased.is_(False),
        Person.moved.is_(False),
        Person.merged_into_id.is_(None),
    )


def _not_busy_elsewhere():
    """Not in a claim or call in another campaign (the unique index settles races)."""
    other = aliased(CampaignTarget)
    return ~exists().where(
        other.person_id == CampaignTarget.person_id,
        other.id != CampaignTarget.id,
        other.status.in_([TargetStatus.CLAIMED, TargetStatus.IN_CALL]),
    )


# Zone keys of each campaign's list, per process, for a few seconds: reading them is a scan
# of the whole list, and lists change far more slowly than volunteers claim.
_zone_keys: dict[int, tuple[float, list[str]]] = {}
ZONE_KEYS_TTL_SECONDS = 10.0


def campaign_zone_keys(campaign_id: int) -> list[str]:
    cached = _zone_keys.get(campaign_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    keys = list(
        db.session.scalars(
            select(CampaignTarget.zone_key)
            .where(
                CampaignTarget.campaign_id == campaign_id,
                CampaignTarget.status != TargetStatus.DONE,
            )
            .distinct()
        )
    )
    _zone_keys[campaign_id] = (time.monotonic() + ZONE_KEYS_TTL_SECONDS, keys)
    return keys


def forget_zone_keys(campaign_id: int) -> None:
    """Drop this process's cached zone keys (after people are added to the list)."""
    _zone_keys.pop(campaign_id, None)


def allowed_zone_keys(campaign: Campaign, now: datetime) -> list[str]:
    """The zone keys on this campaign's list that may be called at this moment.

    A key added within the cache's lifetime waits at most that long to be called.
    """
    window = CampaignWindow.from_campaign(campaign)
    return [key for key in campaign_zone_keys(campaign.id) if allowed_at(now, key, window)]


def claim_next_voter(campaign: Campaign, volunteer: User, now: datetime | None = None) -> Claim:
    """Give the volunteer the next person to call, or raise NothingToCall.

    Changes the session and flushes; the caller commits.
    """
    now = now or utcnow()
    allowed = allowed_zone_keys(campaign, now)
    if not allowed:
        raise NothingToCall(*_why_empty(campaign, now))
    for _ in range(20):
        target = _claim_one(campaign, volunteer, allowed, now)
        if target is None:
            raise NothingToCall(*_why_empty(campaign, now))
        refused = state_limit_refusal(target, now)
        if refused is not None:
            release_claim(target, due_at=refused)
            continue
        phone = choose_phone(target, campaign)
        if phone is None:  # the last good phone went bad since the claim began
            finish_target(target, "no_good_phone")
            continue
        return Claim(target, phone)
    raise NothingToCall("busy")


def _claim_one(campaign, volunteer, allowed, now) -> CampaignTarget | None:
    lease_until = now + timedelta(seconds=lease_seconds())
    claimable = or_(
        CampaignTarget.status == TargetStatus.QUEUED,
        and_(
            CampaignTarget.status == TargetStatus.CLAIMED,
            CampaignTarget.lease_expires_at < now,
        ),
    )
    candidate = (
        select(CampaignTarget.id)
        .where(
            CampaignTarget.campaign_id == campaign.id,
            claimable,
            CampaignTarget.due_at <= now,
            or_(
                CampaignTarget.attempts < campaign.max_attempts,
                CampaignTarget.priority == 0,  # a promised call-back is always made
            ),
            CampaignTarget.zone_key.in_(allowed),
            _callable_person(),
            _good_phone_exists(),
            _not_busy_elsewhere(),
        )
        .order_by(CampaignTarget.priority, CampaignTarget.due_at, CampaignTarget.id)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True)  # FOR NO KEY UPDATE SKIP LOCKED
        .scalar_subquery()
    )
    statement = (
        update(CampaignTarget)
        .where(CampaignTarget.id == candidate)
        .values(
            status=TargetStatus.CLAIMED,
            claimed_by_id=volunteer.id,
            claimed_at=now,
            lease_expires_at=lease_until,
        )
        .returning(CampaignTarget.id)
        .execution_options(synchronize_session=False)
    )
    for _ in range(5):
        savepoint = db.session.begin_nested()
        try:
            target_id = db.session.execute(statement).scalar_one_or_none()
        except IntegrityError:
            # The person is in a claim or call in another campaign: try the next candidate.
            savepoint.rollback()
            continue
        savepoint.commit()
        if target_id is None:
            return None
        target = db.session.get(CampaignTarget, target_id, populate_existing=True)
        return target
    return None


def state_limit_refusal(target: CampaignTarget, now: datetime) -> datetime | None:
    """Florida and Oklahoma allow three calls in 24 hours: when to try instead, if over."""
    limit = max_calls_per_24h(target.zone_key)
    if limit is None:
        return None
    since = now - timedelta(hours=24)
    times = list(
        db.session.scalars(
            select(Call.created_at)
            .where(Call.person_id == target.person_id, Call.created_at > since)
            .order_by(Call.created_at)
        )
    )
    if len(times) < limit:
        return None
    return times[len(times) - limit] + timedelta(hours=24)


def choose_phone(target: CampaignTarget, campaign: Campaign) -> Phone | None:
    """The best untried good phone by the campaign's type order (then the best tried one)."""
    order = [p.strip() for p in campaign.phone_order.split(",")]
    phones = db.session.scalars(
        select(Phone).where(
            Phone.person_id == target.person_id,
            Phone.status == PhoneStatus.OK,
            ~exists().where(DoNotCallNumber.number == Phone.number),
        )
    ).all()
    if not phones:
        return None
    tried = set(target.tried_phone_ids or [])

    def rank(phone: Phone):
        kind = order.index(phone.type.value) if phone.type.value in order else len(order)
        return (phone.id in tried, kind, phone.id)

    return min(phones, key=rank)


def release_claim(target: CampaignTarget, due_at: datetime | None = None) -> None:
    """Return a claimed target to the queue (nothing was dialed)."""
    target.status = TargetStatus.QUEUED
    target.claimed_by_id = None
    target.claimed_at = None
    target.lease_expires_at = None
    if due_at is not None:
        target.due_at = due_at
    db.session.flush()


def finish_target(target: CampaignTarget, reason: str) -> None:
    target.status = TargetStatus.DONE
    target.done_reason = reason
    target.claimed_by_id = None
    target.lease_expires_at = None
    db.session.flush()


def renew_present_claims(now: datetime | None = None) -> int:
    """Claims on the card of a volunteer who is there (a live socket) are renewed: a preview
    the volunteer is looking at stays theirs however long they read (the sweeper runs this,
    before releasing expired claims)."""
    now = now or utcnow()
    lease = timedelta(seconds=int(current_app.config["CLAIM_LEASE_SECONDS"]))
    on_cards = select(CallingSession.current_target_id).where(
        CallingSession.ended_at.is_(None),
        CallingSession.current_target_id.is_not(None),
        CallingSession.user_id.in_(select(SocketConnection.user_id)),
    )
    result = db.session.execute(
        update(CampaignTarget)
        .where(
            CampaignTarget.status == TargetStatus.CLAIMED,
            CampaignTarget.id.in_(on_cards),
        )
        .values(lease_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def release_expired_claims(now: datetime | None = None) -> int:
    """Claims whose lease ran out go back to the queue (the sweeper runs this)."""
    now = now or utcnow()
    result = db.session.execute(
        update(CampaignTarget)
        .where(
            CampaignTarget.status == TargetStatus.CLAIMED,
            CampaignTarget.lease_expires_at < now,
        )
        .values(status=TargetStatus.QUEUED, claimed_by_id=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def next_call_time(campaign: Campaign, now: datetime) -> datetime | None:
    """When the earliest waiting person on the list enters their calling window."""
    window = CampaignWindow.from_campaign(campaign)
    keys = db.session.scalars(
        select(CampaignTarget.zone_key)
        .where(
            CampaignTarget.campaign_id == campaign.id,
            CampaignTarget.status == TargetStatus.QUEUED,
            _callable_person(),
            _good_phone_exists(),
        )
        .distinct()
    )
    times = [t for t in (next_allowed_at(now, key, window) for key in keys) if t is not None]
    return min(times) if times else None


def _why_empty(campaign: Campaign, now: datetime) -> tuple[str, datetime | None]:
    """Why nobody could be claimed: retries pending, others busy, hours, or list finished."""
    base = (
        CampaignTarget.campaign_id == campaign.id,
        _callable_person(),
        _good_phone_exists(),
        or_(CampaignTarget.attempts < campaign.max_attempts, CampaignTarget.priority == 0),
    )
    waiting = db.session.scalar(
        select(func.min(CampaignTarget.due_at)).where(
            *base, CampaignTarget.status == TargetStatus.QUEUED, CampaignTarget.due_at > now
        )
    )
    ready_outside_hours = db.session.scalar(
        select(literal(True))
        .where(
            *base,
            CampaignTarget.status == TargetStatus.QUEUED,
            CampaignTarget.due_at <= now,
            _not_busy_elsewhere(),
        )
        .limit(1)
    )
    if ready_outside_hours:
        return "outside_hours", next_call_time(campaign, now)
    if waiting is not None:
        return "waiting_for_retry", waiting
    in_progress = db.session.scalar(
        select(literal(True))
        .where(
            CampaignTarget.campaign_id == campaign.id,
            or_(
                CampaignTarget.status.in_([TargetStatus.CLAIMED, TargetStatus.IN_CALL]),
                # Someone on this list is being called in another campaign right now.
                and_(*base, CampaignTarget.status == TargetStatus.QUEUED, ~_not_busy_elsewhere()),
            ),
        )
        .limit(1)
    )
    if in_progress:
        return "others_calling", None
    return "list_finished", None
