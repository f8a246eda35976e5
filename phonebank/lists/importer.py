"""Running one list import: read, clean, match and write, all in one transaction.

``run_import(list_id)`` is the one code path behind the upload page, the worker and
``flask lists import``. A reader thread parses and cleans the file in batches while this thread
writes the previous batch, so the file and the database are busy at the same time. Nothing is
committed until the end: a cancel, an error or a killed process leaves no people, no list
members and no call-list rows behind (docs/lists.md).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import Connection, select, update

from phonebank.campaigns.zones import callee_zone_key, has_zone
from phonebank.extensions import db
from phonebank.lists.clean import RowCleaner
from phonebank.lists.reader import FileFormat, ListFileError, open_rows
from phonebank.models import (
    Campaign,
    CampaignTarget,
    ListCampaign,
    ListMember,
    ListReject,
    ListStatus,
    PeopleList,
    TargetStatus,
)
from phonebank.supporters.bulk import BulkWriter, Resolved

BATCH_ROWS = 10_000
QUEUE_START = datetime(2000, 1, 1, tzinfo=UTC)  # campaign_targets.due_at default: due now


class ImportCancelled(Exception):
    """Staff cancelled the import; nothing was kept."""


@dataclass
class Progress:
    rows: int = 0
    fraction: float = 0.0
    rate: float = 0.0  # rows per second so far
    seconds_left: float | None = None
    phase: str = "reading"

    def to_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[Progress], None]


def upload_path(plist: PeopleList) -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / plist.stored_name


def run_import(
    list_id: int,
    *,
    progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> dict:
    """Import a queued list; returns its report. Marks the list failed or cancelled on error."""
    plist = db.session.get(PeopleList, list_id)
    if plist is None:
        raise ListFileError(f"There is no list {list_id}.")
    if plist.status not in (ListStatus.QUEUED, ListStatus.RUNNING):
        raise ListFileError(f"List {list_id} is {plist.status.value}, not waiting to be imported.")
    plist.status = ListStatus.RUNNING
    plist.started_at = datetime.now(UTC)
    plist.error = None
    db.session.commit()
    job = _Job(plist, progress or (lambda p: None), should_cancel or (lambda: False))
    try:
        with db.engine.connect() as conn, conn.begin():
            report = job.run(conn)
    except ImportCancelled:
        _finish(list_id, ListStatus.CANCELLED, "Cancelled; nothing from this import was kept.")
        raise
    except ListFileError as exc:
        _finish(list_id, ListStatus.FAILED, f"{exc} Nothing from this import was kept.")
        raise
    except Exception as exc:
        current_app.logger.exception("list %s: import failed", list_id)
        _finish(
            list_id,
            ListStatus.FAILED,
            f"The import stopped with an error ({type(exc).__name__}); nothing from it was "
            "kept. Try again; if it fails again, report this list to an administrator.",
        )
        raise
    db.session.expire_all()
    return report


def _finish(list_id: int, status: ListStatus, error: str) -> None:
    db.session.rollback()
    db.session.execute(
        update(PeopleList)
        .where(PeopleList.id == list_id)
        .values(status=status, error=error, finished_at=datetime.now(UTC), report=None)
    )
    db.session.commit()


class _Job:
    def __init__(self, plist: PeopleList, progress: ProgressCallback, should_cancel):
        self.list_id = plist.id
        self.list_name = plist.name
        self.path = upload_path(plist)
        self.fmt = FileFormat.from_dict(plist.file_format)
        self.header = plist.header
        self.mapping = plist.mapping
        self.campaign_ids = list(plist.campaign_ids or [])
        self.actor = plist.created_by_id
        self.progress = progress
        self.should_cancel = should_cancel
        self.counts = {
            "rows_read": 0,
            "rows_rejected": 0,
            "queued": 0,
            "already_queued": 0,
            "do_not_call_skipped": 0,
            "not_callable": 0,
        }
        self.per_campaign = {cid: [0, 0, 0] for cid in self.campaign_ids}

    # --- the pipeline ----------------------------------------------------------------------

    def run(self, conn: Connection) -> dict:
        started = time.monotonic()
        cleaner = RowCleaner(self.mapping, self.header)
        writer = BulkWriter(
            conn,
            id_system=self.mapping["id_system"],
            source=f"list:{self.list_id}",
            actor_user_id=self.actor,
            flag_reason=f"marked do-not-call in list “{self.list_name}”",
        )
        campaigns = self._campaigns(conn)
        batches: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read, args=(cleaner, batches, stop), name="list-reader", daemon=True
        )
        reader.start()
        last_report = 0.0
        try:
            while True:
                item = batches.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    break
                records, rejects, fraction = item
                self._write_batch(conn, writer, campaigns, records, rejects)
                now = time.monotonic()
                if now - last_report > 0.5:
                    last_report = now
                    self._report_progress(started, fraction, "importing")
                    if self.should_cancel():
                        raise ImportCancelled()
        finally:
            stop.set()
            while reader.is_alive():
                try:
                    batches.get_nowait()
                except queue.Empty:
                    reader.join(0.05)
        self._report_progress(started, 1.0, "saving")
        if self.should_cancel():
            raise ImportCancelled()
        report = self._report(cleaner, writer, started)
        self._close(conn, report)
        return report

    def _read(self, cleaner: RowCleaner, batches: queue.Queue, stop: threading.Event) -> None:
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    batches.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            with open_rows(self.path, self.fmt) as rows:
                records, rejects = [], []
                clean = cleaner.clean
                for number, cells in rows:
                    record, reason = clean(number, cells)
                    if record is None:
                        rejects.append((number, reason, cells))
                    else:
                        records.append(record)
                    if len(records) + len(rejects) >= BATCH_ROWS:
                        if not put((records, rejects, rows.progress())):
                            return
                        records, rejects = [], []
                if (records or rejects) and not put((records, rejects, 1.0)):
                    return
            put(None)
        except BaseException as exc:  # handed to the writing thread, which raises it
            put(exc)

    def _report_progress(self, started: float, fraction: float, phase: str) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        rows = self.counts["rows_read"]
        left = elapsed * (1 - fraction) / fraction if fraction > 0.01 else None
        self.progress(Progress(rows, round(fraction, 4), round(rows / elapsed), left, phase))

    # --- one batch -------------------------------------------------------------------------

    def _write_batch(self, conn, writer: BulkWriter, campaigns, records, rejects) -> None:
        self.counts["rows_read"] += len(records) + len(rejects)
        self.counts["rows_rejected"] += len(rejects)
        writer.copy(
            ListReject.__table__,
            ("list_id", "row_number", "reason", "cells"),
            [(self.list_id, n, reason, cells) for n, reason, cells in rejects],
        )
        if not records:
            return
        resolved = writer.write(records)
        members = [(self.list_id, p.person_id, p.row_number) for p in resolved]
        fresh = [m for m, p in zip(members, resolved, strict=True) if p.new]
        again = [m for m, p in zip(members, resolved, strict=True) if not p.new]
        writer.copy(ListMember.__table__, ("list_id", "person_id", "row_number"), fresh)
        writer.insert_rows(
            ListMember.__table__,
            ("list_id", "person_id", "row_number"),
            again,
            False,
            ("list_id", "person_id"),
        )
        callable_people = self._callable(writer, resolved)
        for campaign_id in campaigns:
            self._queue(conn, writer, campaign_id, callable_people)

    def _callable(self, writer: BulkWriter, resolved: list[Resolved]) -> list[Resolved]:
        """People who may be called: no person flag, and a good number off the DNC list.

        Sets each one's zone key (``campaigns/zones.py``); people with no knowable zone are
        not callable.
        """
        old_ids = [p.person_id for p in resolved if not p.new]
        store_phones = writer.store_phones(old_ids) if old_ids else {}
        addresses = writer.primary_addresses(old_ids) if old_ids else {}
        numbers = {n for p in resolved for r in p.records for n, _, _ in r.phones}
        numbers |= {n for phones in store_phones.values() for n, _, _ in phones}
        blocked = writer.numbers_on_do_not_call(numbers)
        out = []
        for person in resolved:
            if person.do_not_call:
                self.counts["do_not_call_skipped"] += 1
                continue
            stored = store_phones.get(person.person_id, ())
            bad = {n for n, status, _ in stored if status != "ok"}  # wrong number, ...
            usable = {(n, z) for r in person.records for n, _, z in r.phones if n not in bad}
            usable |= {(n, z) for n, status, z in stored if status == "ok"}
            if not usable:
                self.counts["not_callable"] += 1
                continue
            good = [(n, z) for n, z in usable if n not in blocked]
            if not good and all(n in blocked for n, _ in usable):
                self.counts["do_not_call_skipped"] += 1
                continue
            if not person.callable:
                self.counts["not_callable"] += 1
                continue
            with_address = next((r for r in person.records if r.address), None)
            if with_address is not None:
                _, _, _, region, postcode, country = with_address.address
                address = ("", region, postcode, country)  # its zones follow from these
            else:
                address = addresses.get(person.person_id)
            person.zone_key = callee_zone_key(address, [(n, z.split()) for n, z in good])
            if not has_zone(person.zone_key):
                self.counts["not_callable"] += 1
                continue
            out.append(person)
        return out

    def _queue(self, conn, writer: BulkWriter, campaign_id: int, people: list[Resolved]) -> None:
        old = [p.person_id for p in people if not p.new]
        already = set()
        if old:
            already = set(
                writer.select_in(
                    select(CampaignTarget.person_id).where(
                        CampaignTarget.campaign_id == campaign_id
                    ),
                    CampaignTarget.person_id,
                    old,
                ).scalars()
            )
        columns = (
            "campaign_id",
            "person_id",
            "added_at",
            "status",
            "priority",
            "due_at",
            "attempts",
            "zone_key",
            "tried_phone_ids",
        )
        fresh, again = [], []
        for person in people:
            if person.person_id in already:
                continue
            row = (
                campaign_id,
                person.person_id,
                writer.now,
                TargetStatus.QUEUED.value,
                1,
                QUEUE_START,
                0,
                person.zone_key,
                [],
            )
            (fresh if person.new else again).append(row)
        writer.copy(CampaignTarget.__table__, columns, fresh)
        writer.insert_rows(
            CampaignTarget.__table__, columns, again, False, ("campaign_id", "person_id")
        )
        rows = fresh + again
        # People this import created and queued in an earlier batch are not "already" there.
        before = sum(1 for pid in already if not writer.created_here(pid))
        self.counts["queued"] += len(rows)
        self.counts["already_queued"] += before
        self.per_campaign[campaign_id][0] += len(rows)
        self.per_campaign[campaign_id][1] += before

    # --- finishing -------------------------------------------------------------------------

    def _campaigns(self, conn) -> list[int]:
        if not self.campaign_ids:
            return []
        found = set(
            conn.execute(select(Campaign.id).where(Campaign.id.in_(self.campaign_ids))).scalars()
        )
        missing = [c for c in self.campaign_ids if c not in found]
        if missing:
            raise ListFileError(f"Campaign {missing[0]} no longer exists.")
        return self.campaign_ids

    def _report(self, cleaner: RowCleaner, writer: BulkWriter, started: float) -> dict:
        bulk = writer.counts
        phones = cleaner.counts
        report = {
            "rows_read": self.counts["rows_read"],
            "rows_imported": self.counts["rows_read"] - self.counts["rows_rejected"],
            "rows_rejected": self.counts["rows_rejected"],
            "people_created": bulk.people_created,
            "people_updated": bulk.people_updated,
            "people_merged": bulk.people_merged,
            "phones_valid": phones.valid,
            "phones_invalid": phones.invalid,
            "phones_duplicate": phones.valid - bulk.phones_added,
            "phones_added": bulk.phones_added,
            "invalid_reasons": dict(sorted(phones.reasons.items(), key=lambda kv: -kv[1])),
            "emails_added": bulk.emails_added,
            "flagged_do_not_call": bulk.flagged_do_not_call,
            "do_not_call_skipped": self.counts["do_not_call_skipped"],
            "not_callable": self.counts["not_callable"],
            "queued": self.counts["queued"],
            "already_queued": self.counts["already_queued"],
            "campaigns": [
                {"id": cid, "added": v[0], "already": v[1]} for cid, v in self.per_campaign.items()
            ],
            "seconds": round(time.monotonic() - started, 1),
        }
        return report

    def _close(self, conn, report: dict) -> None:
        for campaign_id, (added, already, _) in self.per_campaign.items():
            conn.execute(
                ListCampaign.__table__.insert().values(
                    list_id=self.list_id,
                    campaign_id=campaign_id,
                    added=added,
                    already=already,
                    not_callable=report["do_not_call_skipped"] + report["not_callable"],
                    added_at=datetime.now(UTC),
                )
            )
        conn.execute(
            update(PeopleList.__table__)
            .where(PeopleList.__table__.c.id == self.list_id)
            .values(
                status=ListStatus.DONE.value,
                report=report,
                finished_at=datetime.now(UTC),
                error=None,
            )
        )
