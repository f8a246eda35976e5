"""Uploaded target lists: the file, its column mapping, the import job and what it did.

A list is imported all or nothing (docs/lists.md): the people, their phones and the list's
members, rejects and campaign rows are written in one transaction with the final status.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phonebank.models.base import Base, utcnow
from phonebank.models.types import JSONType, str_enum


class ListStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # stored and read; waiting for staff to confirm the mapping
    QUEUED = "queued"  # mapping confirmed; waiting for an import process
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # nothing from this import was kept; ``error`` says why
    CANCELLED = "cancelled"  # stopped by staff; nothing from this import was kept


FINISHED_LIST_STATUSES = (ListStatus.DONE, ListStatus.FAILED, ListStatus.CANCELLED)


class PeopleList(Base):
    __tablename__ = "lists"
    __table_args__ = (Index("ix_lists_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))  # as uploaded
    stored_name: Mapped[str] = mapped_column(String(80))  # file name inside the upload folder
    size_bytes: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    file_format: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    header: Mapped[list[str] | None] = mapped_column(JSONType)
    width: Mapped[int] = mapped_column(default=0)  # columns
    # {"columns": [{"field": ..., ...}, ...], "region": "US", "id_system": "van"}; lists/mapping.py
    mapping: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    campaign_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    status: Mapped[ListStatus] = mapped_column(
        str_enum(ListStatus, "list_status"), default=ListStatus.UPLOADED
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_LIST_STATUSES


class ListMember(Base):
    """A person the list holds (after matching), and the first row of the file they came from."""

    __tablename__ = "list_members"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True, index=True)
    row_number: Mapped[int] = mapped_column(default=0)


class ListReject(Base):
    """A row of the file that was not imported, with the reason and the row as it was."""

    __tablename__ = "list_rejects"
    __table_args__ = (Index("ix_list_rejects_list_id_row_number", "list_id", "row_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    row_number: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)
    cells: Mapped[list[str]] = mapped_column(JSONType, default=list)


class ListCampaign(Base):
    """A campaign this list fed, and how many people it put on that campaign's call list."""

    __tablename__ = "list_campaigns"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    added: Mapped[int] = mapped_column(default=0)
    already: Mapped[int] = mapped_column(default=0)
    not_callable: Mapped[int] = mapped_column(default=0)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedMapping(Base):
    """The mapping staff last confirmed for files with these headers, offered again next time."""

    __tablename__ = "saved_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), unique=True)
    header: Mapped[list[str] | None] = mapped_column(JSONType)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
