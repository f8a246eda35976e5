"""Results: running tallies of calls and answers, and export jobs and their log.

Tallies are kept in the transaction that records each call (``results/tallies.py``), keyed by
the hour or day *in the campaign's time zone* (as ISO text, which sorts and compares as the
times do), so a results page over a million calls reads a
few thousand rows. Every key includes the volunteer, so two volunteers' outcomes never wait on
one tally row.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phonebank.models.base import Base, utcnow
from phonebank.models.types import JSONType, str_enum


class CallTally(Base):
    """Calls of one volunteer in one local hour ending one way (outcome 0: none recorded)."""

    __tablename__ = "call_tallies"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    local_hour: Mapped[str] = mapped_column(String(13), primary_key=True)  # "2026-06-10T14"
    volunteer_id: Mapped[int] = mapped_column(primary_key=True)
    outcome_id: Mapped[int] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(default=0)  # attempts
    dials: Mapped[int] = mapped_column(default=0)  # attempts actually placed
    contacts: Mapped[int] = mapped_column(default=0)
    ids: Mapped[int] = mapped_column(default=0)  # contacts who answered the main question
    machines: Mapped[int] = mapped_column(default=0)
    talk_seconds: Mapped[int] = mapped_column(default=0)


class AnswerTally(Base):
    """How often one answer was given to one question, per local day and volunteer; with the
    main question's answer in the same call (``main`` "" when it was not answered), for the
    crosstab of the main question by another."""

    __tablename__ = "answer_tallies"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    local_day: Mapped[str] = mapped_column(String(10), primary_key=True)  # "2026-06-10"
    volunteer_id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(primary_key=True)
    answer: Mapped[str] = mapped_column(String(200), primary_key=True)
    main: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class ExportKind(enum.StrEnum):
    CALLS = "calls"
    PEOPLE = "people"
    VAN = "van"
    ACTION_NETWORK = "action_network"
    NATIONBUILDER = "nationbuilder"
    DO_NOT_CALL = "do_not_call"
    DIALS = "dials"  # the per-dial evidence log
    RETALLY = "retally"  # not a file: recount a campaign's results after its zone changed


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportJob(Base):
    """One CSV export, built outside the web process; its file stays for download. (A
    ``retally`` job recounts a campaign's results instead, the same way.)"""

    __tablename__ = "export_jobs"
    __table_args__ = (
        Index("ix_export_jobs_created_by_id_created_at", "created_by_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ExportKind] = mapped_column(str_enum(ExportKind, "export_kind"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    full_numbers: Mapped[bool] = mapped_column(default=False)  # staff only
    excel: Mapped[bool] = mapped_column(default=False)  # UTF-8 with a byte-order mark
    status: Mapped[ExportStatus] = mapped_column(
        str_enum(ExportStatus, "export_status"), default=ExportStatus.QUEUED
    )
    rows: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None]  # rows expected, for the progress bar
    stored_name: Mapped[str] = mapped_column(String(80), default="")
    filename: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ExportLog(Base):
    """Who downloaded what, when, and how many rows: every export and download is here."""

    __tablename__ = "export_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # requested, downloaded
    what: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("export_jobs.id", ondelete="SET NULL"))
    rows: Mapped[int | None]
    full_numbers: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
