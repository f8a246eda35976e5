"""The shared supporter store's people: identities, contact points, flags, tags and history.

Only ``phonebank.supporters`` writes these tables; every module reads them. See
docs/supporter-store.md.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from phonebank.models.base import Base, utcnow
from phonebank.models.types import JSONType, str_enum


class PhoneType(enum.StrEnum):
    MOBILE = "mobile"
    HOME = "home"
    WORK = "work"
    UNKNOWN = "unknown"


class PhoneStatus(enum.StrEnum):
    OK = "ok"
    BAD = "bad"


class EmailStatus(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCING = "bouncing"


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    do_not_call: Mapped[bool] = mapped_column(default=False)
    do_not_email: Mapped[bool] = mapped_column(default=False)
    deceased: Mapped[bool] = mapped_column(default=False)
    moved: Mapped[bool] = mapped_column(default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Raised by every committed change to the person or what hangs off them
    # (``supporters/changes.py``): the API's ETag, so a stale update is refused.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    external_ids: Mapped[list[ExternalId]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )
    phones: Mapped[list[Phone]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Phone.id"
    )
    emails: Mapped[list[Email]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Email.id"
    )
    addresses: Mapped[list[Address]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="Address.id"
    )
    tags: Mapped[list[Tag]] = relationship(secondary="person_tags", order_by="Tag.name")
    custom_fields: Mapped[list[CustomField]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="CustomField.name"
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or "(no name)"

    @property
    def callable(self) -> bool:
        """Whether any module may phone this person at all (the person-level flags)."""
        return not (self.do_not_call or self.deceased or self.merged_into_id)


class ExternalId(Base):
    """An id this person has in another system: a voter file, VAN, NationBuilder, ..."""

    __tablename__ = "external_ids"
    __table_args__ = (UniqueConstraint("system", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    system: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(100))

    person: Mapped[Person] = relationship(back_populates="external_ids")


class Phone(Base):
    __tablename__ = "phones"
    __table_args__ = (UniqueConstraint("person_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    number: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    type: Mapped[PhoneType] = mapped_column(str_enum(PhoneType, "phone_type"))
    status: Mapped[PhoneStatus] = mapped_column(
        str_enum(PhoneStatus, "phone_status"), default=PhoneStatus.OK
    )
    status_reason: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(80), default="")
    # Candidate IANA zones for this number, space separated; several when it is ambiguous.
    time_zones: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship(back_populates="phones")


class DoNotCallNumber(Base):
    """The internal do-not-call list by number: no module dials these, whoever holds them."""

    __tablename__ = "do_not_call_numbers"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(80), default="")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DoNotCallChange(Base):
    """Every addition to and removal from the do-not-call list, with who, why and from where."""

    __tablename__ = "do_not_call_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), index=True)
    action: Mapped[str] = mapped_column(String(10))  # added, removed
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(80), default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Email(Base):
    __tablename__ = "emails"
    __table_args__ = (UniqueConstraint("person_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    address: Mapped[str] = mapped_column(String(254), index=True)  # stored lower-cased
    status: Mapped[EmailStatus] = mapped_column(
        str_enum(EmailStatus, "email_status"), default=EmailStatus.SUBSCRIBED
    )
    source: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship(back_populates="emails")


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    line1: Mapped[str] = mapped_column(String(200), default="")
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")  # state, county, province
    postcode: Mapped[str] = mapped_column(String(20), default="", index=True)
    country: Mapped[str] = mapped_column(String(2), default="")  # ISO 3166-1 alpha-2
    time_zone: Mapped[str] = mapped_column(String(64), default="")  # IANA zone
    is_primary: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="addresses")


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class PersonTag(Base):
    __tablename__ = "person_tags"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(80), default="")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomField(Base):
    """A named value kept for a person, such as an unmapped column of an imported list."""

    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("person_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text, default="")

    person: Mapped[Person] = relationship(back_populates="custom_fields")


class Activity(Base):
    """Append-only history: who did what to or with this person, when, from which module.

    Rows are never updated or deleted (enforced by database triggers, see the migration).
    """

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_person_id_occurred_at", "person_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    kind: Mapped[str] = mapped_column(String(40))  # e.g. call, rsvp, volunteer_signup, flag
    module: Mapped[str] = mapped_column(String(40))  # calling, events, email, lists, accounts
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
