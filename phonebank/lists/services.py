"""List uploads and import jobs: store a file, confirm its mapping, run, watch, cancel, report.

The import itself runs outside the web process (``IMPORT_RUNNER``): a child process started
here (``flask lists run ID``), or a separate ``flask lists worker``. The job and the web
processes talk through two small files beside the upload, so progress and cancel work the
same on SQLite (one writer at a time) and PostgreSQL: ``<file>.progress`` (JSON, rewritten
atomically by the job) and ``<file>.cancel`` (created by staff's cancel).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from flask import current_app
from sqlalchemy import select, update

from phonebank.config import REPO_ROOT
from phonebank.extensions import db
from phonebank.lists import mapping as mappings
from phonebank.lists.importer import Progress, run_import, upload_path
from phonebank.lists.reader import FileFormat, ListFileError, detect_format, open_rows, preview
from phonebank.models import (
    Campaign,
    ListReject,
    ListStatus,
    PeopleList,
    SavedMapping,
    User,
)
from phonebank.results import csvfile

log = logging.getLogger(__name__)

STALE_SECONDS = 120  # a running import that has not reported for this long has died
_children: dict[int, subprocess.Popen] = {}  # list id -> import process started here


def _upload_dir() -> Path:
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def max_bytes() -> int:
    return int(current_app.config["MAX_UPLOAD_MB"]) * 1024 * 1024


# --- storing an upload ---------------------------------------------------------------------


def store_upload(stream: IO[bytes], filename: str, name: str, user: User | None) -> PeopleList:
    """Save an uploaded file, read its format and headers, and create the list (uploaded).

    Refused files raise ListFileError and leave nothing behind: no file, no row.
    """
    folder = _upload_dir()
    stored = f"list-{secrets.token_hex(12)}"
    target = folder / stored
    digest, size, limit = hashlib.sha256(), 0, max_bytes()
    try:
        with open(target, "wb") as out:
            while block := stream.read(1024 * 1024):
                size += len(block)
                if size > limit:
                    raise ListFileError(
                        f"The file is larger than the {limit // (1024 * 1024)} MB limit; split "
                        "it into smaller files."
                    )
                digest.update(block)
                out.write(block)
        fmt = detect_format(target)
        header, rows = preview(target, fmt, rows=10)
        width = max([len(header or [])] + [len(r) for r in rows] + [1])
        with open_rows(target, fmt) as stream_rows:
            width = max(width, stream_rows.width)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    plist = PeopleList(
        name=(name or Path(filename).stem or "List").strip()[:200],
        filename=Path(filename or stored).name[:255],
        stored_name=stored,
        size_bytes=size,
        sha256=digest.hexdigest(),
        file_format=fmt.to_dict(),
        header=header,
        width=width,
        created_by_id=user.id if user is not None else None,
        status=ListStatus.UPLOADED,
    )
    plist.mapping = suggested_mapping(plist, rows)
    db.session.add(plist)
    db.session.flush()
    return plist


def store_path(path: str | os.PathLike, name: str = "", user: User | None = None) -> PeopleList:
    """The CLI's way in: the same checks and storage as an upload from the browser."""
    path = Path(path)
    if not path.is_file():
        raise ListFileError(f"{path} is not a file.")
    with open(path, "rb") as stream:
        return store_upload(stream, path.name, name or path.stem, user)


def suggested_mapping(plist: PeopleList, sample: list[list[str]]) -> dict:
    """The mapping staff confirmed last time for these headers, else one from the names."""
    signature = mappings.header_signature(plist.header, plist.width)
    saved = db.session.scalar(select(SavedMapping).where(SavedMapping.signature == signature))
    if saved is not None and len(saved.mapping.get("columns", [])) == plist.width:
        reused = {k: v for k, v in saved.mapping.items() if k != "list_tag"}
        return dict(reused, reused=True)
    return mappings.suggest(plist.header, sample, plist.width)


def change_format(plist: PeopleList, has_header: bool) -> None:
    """Staff say row 1 is (or is not) a header: re-read the headers and suggest again."""
    fmt = FileFormat.from_dict({**plist.file_format, "has_header": has_header})
    header, rows = preview(upload_path(plist), fmt, rows=10)
    plist.file_format = fmt.to_dict()
    plist.header = header
    plist.mapping = suggested_mapping(plist, rows)
    db.session.flush()


def list_preview(plist: PeopleList, rows: int = 8) -> list[list[str]]:
    _, sample = preview(upload_path(plist), FileFormat.from_dict(plist.file_format), rows=rows)
    return sample


# --- confirming and starting ---------------------------------------------------------------


def confirm(plist: PeopleList, mapping: dict, campaign_ids: list[int]) -> None:
    """Validate the mapping, remember it for these headers, and queue the import."""
    if plist.status != ListStatus.UPLOADED:
        raise mappings.MappingError("This list has already been imported or queued.")
    clean = mappings.validate(mapping, plist.width)
    campaigns = db.session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))).all()
    if len(campaigns) != len(set(campaign_ids)):
        raise mappings.MappingError("One of the chosen campaigns no longer exists.")
    plist.mapping = clean
    plist.campaign_ids = sorted(set(campaign_ids))
    plist.status = ListStatus.QUEUED
    plist.queued_at = datetime.now(UTC)
    signature = mappings.header_signature(plist.header, plist.width)
    saved = db.session.scalar(select(SavedMapping).where(SavedMapping.signature == signature))
    if saved is None:
        db.session.add(SavedMapping(signature=signature, header=plist.header, mapping=clean))
    else:
        saved.mapping = clean
    db.session.flush()


def start(plist: PeopleList) -> None:
    """Hand a queued list to the configured runner (after the caller has committed)."""
    if current_app.config["IMPORT_RUNNER"] == "worker":
        return  # ``flask lists worker`` picks queued lists up
    env = dict(os.environ)
    env.update(
        PHONEBANK_DATABASE_URL=current_app.config["SQLALCHEMY_DATABASE_URI"],
        PHONEBANK_UPLOAD_DIR=current_app.config["UPLOAD_DIR"],
        PHONEBANK_ENV=current_app.config["ENV_NAME"],
        PHONEBANK_SECRET_KEY=current_app.config["SECRET_KEY"] or "",
        PHONEBANK_REDIS_URL="",  # the job pushes nothing itself (lists/events.py does)
    )
    command = [sys.executable, "-m", "flask", "--app", "phonebank.wsgi", "lists", "run"]
    _children[plist.id] = subprocess.Popen(
        [*command, str(plist.id)],
        cwd=str(REPO_ROOT),
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_with_files(list_id: int, echo=None) -> dict:
    """Run an import, reporting progress to ``<file>.progress`` and watching ``<file>.cancel``."""
    plist = db.session.get(PeopleList, list_id)
    if plist is None:
        raise ListFileError(f"There is no list {list_id}.")
    base = upload_path(plist)
    progress_file, cancel_file = _side(base, "progress"), _side(base, "cancel")
    write_progress(progress_file, Progress(phase="starting"))

    def progress(p: Progress) -> None:
        write_progress(progress_file, p)
        if echo is not None:
            echo(p)

    try:
        return run_import(list_id, progress=progress, should_cancel=cancel_file.exists)
    finally:
        progress_file.unlink(missing_ok=True)
        cancel_file.unlink(missing_ok=True)


def _side(base: Path, kind: str) -> Path:
    return base.with_name(f"{base.name}.{kind}")


def write_progress(path: Path, progress: Progress) -> None:
    data = dict(progress.to_dict(), at=time.time())
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def read_progress(plist: PeopleList) -> dict | None:
    try:
        return json.loads(_side(upload_path(plist), "progress").read_text())
    except (OSError, ValueError):
        return None


def status_payload(plist: PeopleList) -> dict:
    """What the list page shows: status, live progress, and the report or error when done."""
    return {
        "id": plist.id,
        "status": plist.status.value,
        "progress": read_progress(plist) if plist.status == ListStatus.RUNNING else None,
        "report": plist.report,
        "error": plist.error,
    }


def request_cancel(plist: PeopleList) -> bool:
    """Ask a queued or running import to stop; a queued one is cancelled at once."""
    if plist.status == ListStatus.QUEUED:
        plist.status = ListStatus.CANCELLED
        plist.finished_at = datetime.now(UTC)
        plist.error = "Cancelled before it started; nothing was imported."
        db.session.flush()
        return True
    if plist.status != ListStatus.RUNNING:
        return False
    _side(upload_path(plist), "cancel").touch()
    return True


def recover_stale() -> list[int]:
    """Mark imports whose process died as failed (their transaction was rolled back).

    Dead means: the child process this web process started has exited, or (for imports run
    elsewhere) no progress for STALE_SECONDS. The update only applies to a list still marked
    running, so an import that finished in the meantime keeps its result.
    """
    exited = set()
    for child_id, child in list(_children.items()):
        if child.poll() is not None:
            exited.add(child_id)
            _children.pop(child_id, None)
    failed = []
    active = db.session.scalars(
        select(PeopleList).where(PeopleList.status.in_([ListStatus.QUEUED, ListStatus.RUNNING]))
    ).all()
    for plist in active:
        if plist.id in _children:
            continue
        if plist.status == ListStatus.QUEUED:
            if plist.id in exited:  # its process ended before it could start
                failed.append(plist.id)
            continue
        progress = read_progress(plist)
        last = progress["at"] if progress else (plist.started_at or plist.created_at).timestamp()
        if plist.id in exited or time.time() - last > STALE_SECONDS:
            failed.append(plist.id)
    for list_id in failed:
        db.session.execute(
            update(PeopleList)
            .where(
                PeopleList.id == list_id,
                PeopleList.status.in_([ListStatus.QUEUED, ListStatus.RUNNING]),
            )
            .values(
                status=ListStatus.FAILED,
                finished_at=datetime.now(UTC),
                error=(
                    "The import process stopped before finishing; nothing from it was kept. "
                    "Start it again with “Import again”."
                ),
            )
        )
    if failed:
        db.session.commit()
    return failed


# --- after the import ----------------------------------------------------------------------


def rejects_csv(plist: PeopleList) -> Iterator[str]:
    """The rejected rows as CSV: row number, reason, then the row's cells (header kept), with
    formula-like cells neutralised (``results/csvfile.py``)."""
    header = list(plist.header or [f"Column {i + 1}" for i in range(plist.width)])

    def batches():
        last = 0
        while True:
            batch = db.session.execute(
                select(ListReject.row_number, ListReject.reason, ListReject.cells)
                .where(ListReject.list_id == plist.id, ListReject.row_number > last)
                .order_by(ListReject.row_number)
                .limit(5000)
            ).all()
            if not batch:
                return
            last = batch[-1][0]
            yield [[number, reason, *cells] for number, reason, cells in batch]

    return csvfile.stream(["row", "reason", *header], batches())


def reimport(plist: PeopleList, user: User | None) -> PeopleList:
    """A new list from the same stored file and mapping (after a failure or cancel)."""
    copy = PeopleList(
        name=plist.name,
        filename=plist.filename,
        stored_name=plist.stored_name,
        size_bytes=plist.size_bytes,
        sha256=plist.sha256,
        file_format=plist.file_format,
        header=plist.header,
        width=plist.width,
        mapping=plist.mapping,
        campaign_ids=list(plist.campaign_ids or []),
        created_by_id=user.id if user is not None else None,
        status=ListStatus.QUEUED,
        queued_at=datetime.now(UTC),
    )
    if not upload_path(plist).exists():
        raise ListFileError("The uploaded file is no longer on the server; upload it again.")
    db.session.add(copy)
    db.session.flush()
    return copy
