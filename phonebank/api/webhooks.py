"""Webhook subscriptions: the change feed pushed to receivers, signed, in feed order.

A worker process (``flask webhooks worker``; the Procfile's ``webhooks``) sequences the feed and
delivers each active subscription's pending events in batches: one POST of
``{"subscription": id, "events": [...]}`` per batch, in feed order (so in order for every
person), signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` (headers
``X-Phonebank-Timestamp`` and ``X-Phonebank-Signature: sha256=<hex>``). A 2xx answer moves the
subscription's ``delivered_position`` past the batch; anything else (an error status, a
timeout, a refused connection) leaves it there and retries with exponential backoff (1 s,
2 s, 4 s … at most ``WEBHOOK_MAX_BACKOFF_SECONDS``), for ``WEBHOOK_GIVE_UP_HOURS`` (72) before
the subscription is paused for staff to look at. After five failures in a row it shows as
failing. Delivery is at least once: a receiver de-duplicates by event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import or_, select

from phonebank.extensions import db
from phonebank.models import (
    ChangeEvent,
    SubscriptionStatus,
    User,
    WebhookSubscription,
    utcnow,
)
from phonebank.supporters import changes

log = logging.getLogger(__name__)
FAILING_AFTER = 5
BATCH = 200


class SubscriptionRefused(ValueError):
    """A subscription that cannot be made as asked (the message says why)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300) -> bool:
    """What a receiver does (docs/api.md shows it in other languages): the signature matches
    and the timestamp is recent."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def create_subscription(
    name: str, url: str, event_types: list[str], *, by: User | None
) -> WebhookSubscription:
    """A new subscription, starting from the feed's end (replay earlier events from its page)."""
    name, url = (name or "").strip(), (url or "").strip()
    if not name:
        raise SubscriptionRefused("Give the subscription a name.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SubscriptionRefused("The URL starts with https:// (or http://) and names a host.")
    unknown = sorted(set(event_types) - set(changes.EVENT_TYPES))
    if unknown:
        raise SubscriptionRefused(f"Unknown event type(s): {', '.join(unknown)}.")
    # From the feed's end: events not yet given a position get one after it, so they are
    # delivered too.
    subscription = WebhookSubscription(
        name=name[:100],
        url=url[:500],
        event_types=sorted(set(event_types)),
        secret=secrets.token_hex(32),
        delivered_position=changes.latest_position(),
        created_by_id=by.id if by else None,
    )
    db.session.add(subscription)
    db.session.flush()
    return subscription


def replay_from(subscription: WebhookSubscription, position: int) -> None:
    """Deliver again everything after ``position`` (0: the whole feed)."""
    subscription.delivered_position = max(0, int(position))
    resume(subscription)


def pause(subscription: WebhookSubscription) -> None:
    subscription.status = SubscriptionStatus.PAUSED
    db.session.flush()


def resume(subscription: WebhookSubscription) -> None:
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.failures = 0
    subscription.failing_since = None
    subscription.next_attempt_at = None
    db.session.flush()


def backoff(failures: int) -> float:
    """Seconds before the next try: doubling from 1 s, at most the configured ceiling, with
    up to 10 % jitter so receivers coming back are not hit by every worker at once."""
    ceiling = float(current_app.config["WEBHOOK_MAX_BACKOFF_SECONDS"])
    base = min(ceiling, 2.0 ** max(0, failures - 1))
    return base * (1 + random.random() / 10)


# --- delivery ------------------------------------------------------------------------------


def pending_events(subscription: WebhookSubscription, limit: int = BATCH) -> list[ChangeEvent]:
    query = (
        select(ChangeEvent)
        .where(ChangeEvent.position > subscription.delivered_position)
        .order_by(ChangeEvent.position)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def deliver_next(subscription_id: int, session: requests.Session | None = None) -> int:
    """One batch for one subscription, if it is due: returns the events delivered (0 when
    nothing was due, pending or accepted). Holds the subscription's row while it sends, so two
    workers never deliver one subscription at once. Commits."""
    now = utcnow()
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    subscription = db.session.scalar(query.execution_options(populate_existing=True))
    if (
        subscription is None
        or subscription.status == SubscriptionStatus.PAUSED
        or (subscription.next_attempt_at is not None and subscription.next_attempt_at > now)
    ):
        db.session.commit()
        return 0
    scanned = pending_events(subscription)
    if not scanned:
        db.session.commit()
        return 0
    wanted = set(subscription.event_types or [])
    events = [changes.as_json(e) for e in scanned if not wanted or e.type in wanted]
    last = scanned[-1].position
    if not events:
        subscription.delivered_position = last  # nothing of its types in this stretch
        db.session.commit()
        return 0
    body = json.dumps({"subscription": subscription.id, "events": events}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "phonebank-webhooks/1",
        "X-Phonebank-Timestamp": timestamp,
        "X-Phonebank-Signature": sign(subscription.secret, timestamp, body),
        "X-Phonebank-Delivery": str(uuid.uuid4()),
    }
    timeout = float(current_app.config["WEBHOOK_TIMEOUT_SECONDS"])
    error = None
    try:
        answer = (session or requests).post(
            subscription.url, data=body, headers=headers, timeout=timeout
        )
        if not 200 <= answer.status_code < 300:
            error = f"HTTP {answer.status_code}: {answer.text[:200]}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    now = utcnow()
    if error is None:
        subscription.delivered_position = last
        subscription.failures = 0
        subscription.failing_since = None
        subscription.next_attempt_at = None
        subscription.last_delivered_at = now
        if subscription.status == SubscriptionStatus.FAILING:
            subscription.status = SubscriptionStatus.ACTIVE
        db.session.commit()
        return len(events)
    subscription.failures += 1
    subscription.failing_since = subscription.failing_since or now
    subscription.last_error = error
    subscription.next_attempt_at = now + timedelta(seconds=backoff(subscription.failures))
    give_up = timedelta(hours=float(current_app.config["WEBHOOK_GIVE_UP_HOURS"]))
    if now - subscription.failing_since > give_up:
        subscription.status = SubscriptionStatus.PAUSED
        log.warning("webhook %s paused after failing since %s", subscription.id, now)
    elif subscription.failures >= FAILING_AFTER:
        subscription.status = SubscriptionStatus.FAILING
    db.session.commit()
    log.info("webhook %s: delivery failed (%s)", subscription.id, error)
    return 0


def due_subscriptions() -> list[int]:
    now = utcnow()
    ids = list(
        db.session.scalars(
            select(WebhookSubscription.id)
            .where(
                WebhookSubscription.status != SubscriptionStatus.PAUSED,
                or_(
                    WebhookSubscription.next_attempt_at.is_(None),
                    WebhookSubscription.next_attempt_at <= now,
                ),
            )
            .order_by(WebhookSubscription.id)
        )
    )
    db.session.commit()
    return ids


def work_once(session: requests.Session | None = None) -> int:
    """Sequence the feed, then one batch for every due subscription. Returns events sent."""
    changes.sequence()
    return sum(deliver_next(sid, session) for sid in due_subscriptions())


def work_forever(idle_seconds: float = 0.5, stop=None) -> None:
    """The worker's loop: deliver while there is work, else wait a moment."""
    with requests.Session() as session:
        while stop is None or not stop():
            try:
                sent = work_once(session)
            except Exception:
                log.exception("webhook delivery failed")
                db.session.rollback()
                sent = 0
            finally:
                db.session.remove()
            if not sent:
                time.sleep(idle_seconds)
