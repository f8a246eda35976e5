"""Volunteers' calling sessions and the calls placed in them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from phonebank.models.base import Base, utcnow
from phonebank.models.types import JSONType, str_enum

if TYPE_CHECKING:
    from phonebank.models.campaign import Campaign, CampaignTarget, Outcome
    from phonebank.models.person import Person, Phone
    from phonebank.models.user import User


class AudioMode(enum.StrEnum):
    BROWSER = "browser"  # Twilio Voice SDK in the page
    PHONE = "phone"  # Twilio calls the volunteer's own phone
    NONE = "none"  # manual mode: the volunteer dials from their own phone


class CallingSession(Base):
    """One volunteer working one campaign, from joining to ending the session."""

    __tablename__ = "calling_sessions"
    __table_args__ = (
        # At most one open session per volunteer.
        Index(
            "uq_calling_sessions_open_user",
            "user_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    ready: Mapped[bool] = mapped_column(default=False)  # wants the next voter
    state_since: Mapped[datetime] = mapped_column(default=utcnow)
    audio_mode: Mapped[AudioMode | None] = mapped_column(str_enum(AudioMode, "audio_mode"))
    audio_call_sid: Mapped[str | None] = mapped_column(String(40))
    audio_up: Mapped[bool] = mapped_column(default=False)
    # A browser leg is accepted only while the page has asked to connect (audio.connect), and
    # becomes the session's leg only once Twilio says it joined the conference.
    audio_expected_until: Mapped[datetime | None]
    audio_pending_sid: Mapped[str | None] = mapped_column(String(40))
    current_target_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_targets.id"))
    # Deliberately no foreign key: PostgreSQL's check of one would take a KEY SHARE lock on
    # the call row, which deadlocks against a call row being locked by a callback while that
    # callback waits for this session row. The services keep the pointer right.
    current_call_id: Mapped[int | None]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Raised with every published change, so a page can drop a snapshot older than one it has.
    version: Mapped[int] = mapped_column(default=0)
    # Why the volunteer is waiting, when nobody can be called: {"reason": ..., "next_at": ...}.
    notice: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Totals for this session, shown on the volunteer's page.
    calls_made: Mapped[int] = mapped_column(default=0)
    contacts_made: Mapped[int] = mapped_column(default=0)
    talk_seconds: Mapped[int] = mapped_column(default=0)
    hand_raised_at: Mapped[datetime | None]  # the volunteer asked their lead for help
    # The voter card of the person in hand, built once at the claim (the snapshot reuses it).
    card: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The half-filled outcome form, so a reconnecting page can restore it.
    draft: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    user: Mapped[User] = relationship()
    campaign: Mapped[Campaign] = relationship()
    current_target: Mapped[CampaignTarget | None] = relationship()
    # The session and its calls point at each other: post_update breaks the cycle at flush.
    current_call: Mapped[Call | None] = relationship(
        primaryjoin="foreign(CallingSession.current_call_id) == Call.id", post_update=True
    )

    @property
    def conference_name(self) -> str:
        return f"phonebank-session-{self.id}"


class CallStatus(enum.StrEnum):
    CREATED = "created"  # row written, provider not asked yet
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self in FINAL_CALL_STATUSES


FINAL_CALL_STATUSES = {
    CallStatus.COMPLETED,
    CallStatus.BUSY,
    CallStatus.NO_ANSWER,
    CallStatus.FAILED,
    CallStatus.CANCELED,
}


class Call(Base):
    """One attempt to reach a person on one phone, and its outcome."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("provider_sid"),
        UniqueConstraint("submission_id"),
        Index("ix_calls_campaign_id_created_at", "campaign_id", "created_at"),
        Index("ix_calls_person_id_created_at", "person_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("calling_sessions.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("campaign_targets.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    phone_id: Mapped[int] = mapped_column(ForeignKey("phones.id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    manual: Mapped[bool] = mapped_column(default=False)  # dialed by the volunteer by hand
    provider_sid: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[CallStatus] = mapped_column(
        str_enum(CallStatus, "call_status"), default=CallStatus.CREATED
    )
    last_sequence: Mapped[int] = mapped_column(default=-1)  # highest SequenceNumber applied
    answered_by: Mapped[str | None] = mapped_column(String(30))  # human, machine_start, ...
    voicemail_left: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dialed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    end_reason: Mapped[str | None] = mapped_column(String(40))
    checked_at: Mapped[datetime | None]  # last asked of the provider (a long call's callbacks)
    outcome_id: Mapped[int | None] = mapped_column(ForeignKey("outcomes.id"))
    outcome_at: Mapped[datetime | None]
    outcome_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: automatic
    submission_id: Mapped[str | None] = mapped_column(String(64))  # the page's idempotency key
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Set when a volunteer's outcome replaced one phonebank recorded by itself (answering-
    # machine detection said "machine" while they talked): both, for staff to review.
    conflict: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # What this call adds to the results tallies now (results/tallies.py), so re-tallying
    # after a change replaces it exactly.
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    person: Mapped[Person] = relationship()
    phone: Mapped[Phone] = relationship()
    target: Mapped[CampaignTarget] = relationship()
    outcome: Mapped[Outcome | None] = relationship()
    session: Mapped[CallingSession | None] = relationship(foreign_keys=[session_id])


class MonitorMode(enum.StrEnum):
    LISTEN = "listen"  # the lead hears the call, muted
    WHISPER = "whisper"  # only the volunteer hears the lead
    BARGE = "barge"  # everyone hears the lead


class MonitorLeg(Base):
    """A lead's browser audio in a volunteer's conference (listen, whisper or barge)."""

    __tablename__ = "monitor_legs"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("calling_sessions.id"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[MonitorMode] = mapped_column(str_enum(MonitorMode, "monitor_mode"))
    call_sid: Mapped[str | None] = mapped_column(String(40), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
