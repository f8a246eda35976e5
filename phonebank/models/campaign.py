"""Campaigns and who works on them."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from phonebank.models.base import Base, utcnow
from phonebank.models.types import JSONType, str_enum

if TYPE_CHECKING:
    from phonebank.models.person import Person
    from phonebank.models.user import User


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    FINISHED = "finished"


class DialingMode(enum.StrEnum):
    POWER = "power"  # the next voter is dialed as soon as the volunteer is ready
    PREVIEW = "preview"  # the volunteer reads the record, then clicks Call
    MANUAL = "manual"  # the volunteer dials from their own phone; the number is shown and logged


DEFAULT_PHONE_ORDER = "mobile,home,work,unknown"


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus, "campaign_status"), default=CampaignStatus.DRAFT
    )
    script: Mapped[str] = mapped_column(Text, default="")
    dialing_mode: Mapped[DialingMode] = mapped_column(
        str_enum(DialingMode, "dialing_mode"), default=DialingMode.PREVIEW
    )
    caller_id: Mapped[str] = mapped_column(String(20), default="")  # E.164; a real number
    # Calling window in the callee's local time, minutes after midnight, [start, end).
    window_start: Mapped[int] = mapped_column(default=8 * 60)
    window_end: Mapped[int] = mapped_column(default=21 * 60)
    # Per weekday (0 = Monday) narrower windows: {"6": null} means no calls on Sundays.
    weekday_windows: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    max_attempts: Mapped[int] = mapped_column(default=3)
    phone_order: Mapped[str] = mapped_column(String(60), default=DEFAULT_PHONE_ORDER)
    voicemail_text: Mapped[str] = mapped_column(Text, default="")
    voicemail_url: Mapped[str] = mapped_column(String(500), default="")
    # Results are reported in this zone ("" = the organisation's, PHONEBANK_TIME_ZONE).
    time_zone: Mapped[str] = mapped_column(String(60), default="")
    # The zone the results tallies were built in ("" = none yet): a change rebuilds them.
    tallies_zone: Mapped[str] = mapped_column(String(60), default="")
    # How outcomes and answers map to other tools' codes: {"van": {...}} (results/exports.py).
    export_mappings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    questions: Mapped[list[SurveyQuestion]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="SurveyQuestion.position"
    )
    outcomes: Mapped[list[Outcome]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", order_by="Outcome.position"
    )
    members: Mapped[list[CampaignMember]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan"
    )


class CampaignMember(Base):
    """A volunteer or lead assigned to a campaign (leads see only the campaigns they are in)."""

    __tablename__ = "campaign_members"
    __table_args__ = (UniqueConstraint("campaign_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class QuestionKind(enum.StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    TEXT = "text"


class SurveyQuestion(Base):
    """One survey question, shown only if ``show_if_question_id`` got ``show_if_value``."""

    __tablename__ = "survey_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[QuestionKind] = mapped_column(str_enum(QuestionKind, "question_kind"))
    prompt: Mapped[str] = mapped_column(String(500))
    choices: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    is_main: Mapped[bool] = mapped_column(default=False)  # its answers count as IDs
    # Tags added to the person for an answer: {"Strong yes": ["supporter"]}.
    answer_tags: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # An RSVP recorded for an answer: event_id plus {"Yes": "yes", "Maybe": "maybe"}.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    rsvp_map: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    show_if_question_id: Mapped[int | None] = mapped_column(ForeignKey("survey_questions.id"))
    show_if_value: Mapped[str | None] = mapped_column(String(200))

    campaign: Mapped[Campaign] = relationship(back_populates="questions")


class OutcomeBucket(enum.StrEnum):
    CONTACT = "contact"  # a live person answered
    RETRY = "retry"  # no answer, busy, machine: try again later
    BAD_NUMBER = "bad_number"  # this phone is wrong for this person
    NEVER = "never"  # person-level: do not call, deceased, moved


class Outcome(Base):
    """One entry of a campaign's outcome list, and what recording it does."""

    __tablename__ = "outcomes"
    __table_args__ = (UniqueConstraint("campaign_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(80))
    bucket: Mapped[OutcomeBucket] = mapped_column(str_enum(OutcomeBucket, "outcome_bucket"))
    ends_attempts: Mapped[bool] = mapped_column(default=False)  # no more calls this campaign
    retry_delay_minutes: Mapped[int | None]  # retry outcomes: wait this long
    is_callback: Mapped[bool] = mapped_column(default=False)  # the volunteer picks a time
    phone_reason: Mapped[str | None] = mapped_column(String(30))  # bad_number: why
    person_flag: Mapped[str | None] = mapped_column(String(30))  # never: which flag
    # Chosen by phonebank itself when a call ends this way: no-answer, busy, failed,
    # machine (no message left) or voicemail (message left).
    auto_for: Mapped[str | None] = mapped_column(String(20))
    shortcut: Mapped[str | None] = mapped_column(String(1))  # keyboard key on the calling page
    active: Mapped[bool] = mapped_column(default=True)

    campaign: Mapped[Campaign] = relationship(back_populates="outcomes")


class TargetStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting (maybe for due_at)
    CLAIMED = "claimed"  # given to a volunteer, not dialed yet; the lease may expire
    IN_CALL = "in_call"  # a call is under way; never returns to the queue by itself
    DONE = "done"  # no more calls in this campaign


class CampaignTarget(Base):
    """A person on a campaign's call list and their place in its queue."""

    __tablename__ = "campaign_targets"
    __table_args__ = (
        UniqueConstraint("campaign_id", "person_id"),
        Index("ix_campaign_targets_queue", "campaign_id", "status", "priority", "due_at", "id"),
        # The claim's candidate scan (calling/queue.py): the claimable rows of one campaign in
        # queue order, so "ORDER BY priority, due_at, id LIMIT 1" walks this index instead of
        # sorting the whole list on every claim (bench/README.md: ~180 ms at 100,000 people).
        Index(
            "ix_campaign_targets_claimable",
            "campaign_id",
            "priority",
            "due_at",
            "id",
            postgresql_where=text("status IN ('queued', 'claimed')"),
            sqlite_where=text("status IN ('queued', 'claimed')"),
        ),
        # One person is in at most one claim or call at a time, across all campaigns.
        Index(
            "uq_campaign_targets_person_busy",
            "person_id",
            unique=True,
            postgresql_where=text("status IN ('claimed', 'in_call')"),
            sqlite_where=text("status IN ('claimed', 'in_call')"),
        ),
        Index(
            "ix_campaign_targets_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'claimed'"),
            sqlite_where=text("status = 'claimed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[TargetStatus] = mapped_column(
        str_enum(TargetStatus, "target_status"), default=TargetStatus.QUEUED
    )
    priority: Mapped[int] = mapped_column(default=1)  # 0: a scheduled call-back
    due_at: Mapped[datetime] = mapped_column(default=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    attempts: Mapped[int] = mapped_column(default=0)
    # Candidate IANA zones (space separated) and US state, e.g. "America/New_York|NY".
    zone_key: Mapped[str] = mapped_column(String(200), default="")
    tried_phone_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(60))
    done_reason: Mapped[str | None] = mapped_column(String(60))

    person: Mapped[Person] = relationship()
