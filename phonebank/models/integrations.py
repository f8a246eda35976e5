"""The store's integration surface: its change feed, API keys and webhook subscriptions.

``change_events`` is the outbox: every change to the supporter store appends rows here in the
same transaction as the change (``supporters/changes.py``). Rows get their ``id`` when written
and their ``position`` (the feed's cursor) only once committed, from one sequencer at a time,
so positions grow in commit order and a reader that has passed position N never sees a new
row at or below N.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phonebank.models.base import Base, utcnow
from phonebank.models.types import JSONType, str_enum

# BIGINT on PostgreSQL; INTEGER on SQLite, where only that is the autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class ChangeEvent(Base):
    """One change to the store: ``{id, type, occurred_at, person, data}``."""

    __tablename__ = "change_events"
    __table_args__ = (
        Index("ix_change_events_position", "position", unique=True),
        Index("ix_change_events_unsequenced", "id", postgresql_where="position IS NULL"),
        Index("ix_change_events_person", "person_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    position: Mapped[int | None] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    person_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ApiScope(enum.StrEnum):
    """What an API key may do."""

    READ_PEOPLE = "people:read"
    WRITE_PEOPLE = "people:write"
    READ_CANVASSES = "canvasses:read"
    WRITE_CANVASSES = "canvasses:write"
    READ_EVENTS = "events:read"
    WRITE_EVENTS = "events:write"
    READ_DO_NOT_CALL = "do_not_call:read"
    WRITE_DO_NOT_CALL = "do_not_call:write"
    READ_CHANGES = "changes:read"

    @property
    def label(self) -> str:
        return {
            "people:read": "Read people, tags and questions",
            "people:write": "Create and update people and taggings",
            "canvasses:read": "Read canvasses (calls and their answers)",
            "canvasses:write": "Record canvasses of their own",
            "events:read": "Read events and attendances",
            "events:write": "Create events and record attendances (RSVPs)",
            "do_not_call:read": "Read the do-not-call list",
            "do_not_call:write": "Add numbers to the do-not-call list",
            "changes:read": "Read the change feed",
        }[self.value]


class ApiKey(Base):
    """A key for one integration. Only a hash of its secret is kept; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # "pb_" + 8 characters, shown
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the whole key, hex
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    rate_per_minute: Mapped[int] = mapped_column(default=600)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiRequest(Base):
    """Every API call: which key, what, when, the answer."""

    __tablename__ = "api_requests"
    __table_args__ = (Index("ix_api_requests_key_at", "key_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    status: Mapped[int]
    ip: Mapped[str | None] = mapped_column(String(64))
    milliseconds: Mapped[int] = mapped_column(default=0)


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    FAILING = "failing"  # repeated errors; still retried, with backoff
    PAUSED = "paused"  # by staff, or after failing for WEBHOOK_GIVE_UP_HOURS


class WebhookSubscription(Base):
    """A receiver of the change feed: events of the chosen types POSTed to ``url`` in feed
    order, signed with ``secret``; ``delivered_position`` is how far it has acknowledged."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)  # empty: all
    secret: Mapped[str] = mapped_column(String(64))
    status: Mapped[SubscriptionStatus] = mapped_column(
        str_enum(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.ACTIVE
    )
    delivered_position: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive
    failing_since: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_delivered_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
