"""Export jobs: queued by a page, run outside the web process, watched with a progress bar.

Like list imports (``lists/services.start``), a job runs as a child process
(``flask exports run ID``) or, with ``PHONEBANK_IMPORT_RUNNER=worker``, is picked up by
``flask exports worker``. The job row carries its progress (rows written of the total), updated
over its own connection so the export's streaming read is never interrupted. Files are kept in
``<PHONEBANK_UPLOAD_DIR>/exports`` for download; every request and download is logged.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update

from phonebank.config import REPO_ROOT
from phonebank.extensions import db
from phonebank.models import Campaign, ExportJob, ExportKind, ExportLog, ExportStatus, User
from phonebank.results import csvfile, tallies

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2.0  # seconds between progress writes
STALE_AFTER = timedelta(minutes=2)  # a running job silent this long has died
_children: dict[int, subprocess.Popen] = {}

KIND_LABELS = {
    ExportKind.CALLS: "Calls",
    ExportKind.PEOPLE: "People",
    ExportKind.VAN: "VAN canvass results",
    ExportKind.ACTION_NETWORK: "People for Action Network",
    ExportKind.NATIONBUILDER: "People for NationBuilder",
    ExportKind.DO_NOT_CALL: "Do-not-call list",
    ExportKind.RETALLY: "Recount results",
}


class ExportError(Exception):
    """A request for an export that cannot be met; the message is for the person."""


def export_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def create_job(
    user: User,
    kind: ExportKind,
    campaign: Campaign | None,
    filters: dict | None = None,
    full_numbers: bool = False,
    excel: bool = False,
) -> ExportJob:
    """Queue an export (or a recount). Full phone numbers are for staff only."""
    from phonebank.models import Role

    if full_numbers and not user.has_role(Role.STAFF):
        raise ExportError("Only staff may export full phone numbers.")
    if kind not in (ExportKind.DO_NOT_CALL,) and campaign is None:
        raise ExportError("Choose a campaign to export.")
    job = ExportJob(
        kind=kind,
        campaign_id=campaign.id if campaign else None,
        filters={k: v for k, v in (filters or {}).items() if v not in (None, "")},
        full_numbers=full_numbers,
        excel=excel,
        created_by_id=user.id,
    )
    db.session.add(job)
    db.session.flush()
    if kind != ExportKind.RETALLY:
        db.session.add(
            ExportLog(
                user_id=user.id,
                action="requested",
                what=describe(job, campaign),
                job_id=job.id,
                full_numbers=full_numbers,
            )
        )
    db.session.flush()
    return job


def describe(job: ExportJob, campaign: Campaign | None = None) -> str:
    campaign = campaign or (db.session.get(Campaign, job.campaign_id) if job.campaign_id else None)
    parts = [KIND_LABELS.get(job.kind, job.kind.value)]
    if campaign is not None:
        parts.append(f"of {campaign.name}")
    for key, value in sorted((job.filters or {}).items()):
        parts.append(f"{key}={value}")
    return " ".join(parts)[:200]


def start(job: ExportJob) -> None:
    """Hand a queued job to the configured runner (after the caller has committed)."""
    if current_app.config["IMPORT_RUNNER"] == "worker":
        return  # ``flask exports worker`` picks queued jobs up
    env = dict(os.environ)
    env.update(
        PHONEBANK_DATABASE_URL=current_app.config["SQLALCHEMY_DATABASE_URI"],
        PHONEBANK_UPLOAD_DIR=current_app.config["UPLOAD_DIR"],
        PHONEBANK_ENV=current_app.config["ENV_NAME"],
        PHONEBANK_SECRET_KEY=current_app.config["SECRET_KEY"] or "",
        PHONEBANK_PUBLIC_URL=current_app.config["PUBLIC_URL"],
        PHONEBANK_TIME_ZONE=current_app.config["TIME_ZONE"],
        PHONEBANK_REDIS_URL="",
    )
    _children[job.id] = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "phonebank.wsgi", "exports", "run", str(job.id)],
        cwd=str(REPO_ROOT),
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def claim_next() -> int | None:
    """A worker's next queued job, taken atomically (SKIP LOCKED on PostgreSQL)."""
    job_id = db.session.scalar(
        select(ExportJob.id)
        .where(ExportJob.status == ExportStatus.QUEUED)
        .order_by(ExportJob.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if job_id is None:
        db.session.commit()
        return None
    taken = db.session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status == ExportStatus.QUEUED)
        .values(status=ExportStatus.RUNNING, started_at=datetime.now(UTC))
    ).rowcount
    db.session.commit()
    return job_id if taken else None


def _set(job_id: int, **values) -> None:
    """Write the job's progress over a connection of its own, committed at once."""
    with db.engine.begin() as conn:
        conn.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values))


def run_job(job_id: int) -> ExportJob:
    """Build the job's file (or recount), reporting progress; the job ends done or failed."""
    from phonebank.results.exports import BUILDERS

    job = db.session.get(ExportJob, job_id)
    if job is None:
        raise ExportError(f"There is no export {job_id}.")
    now = datetime.now(UTC)
    _set(job_id, status=ExportStatus.RUNNING, started_at=job.started_at or now, finished_at=None)
    try:
        if job.kind == ExportKind.RETALLY:
            campaign = db.session.get(Campaign, job.campaign_id)
            count = tallies.rebuild(campaign)
            db.session.commit()
            _set(job_id, status=ExportStatus.DONE, rows=count, finished_at=datetime.now(UTC))
            return db.session.get(ExportJob, job_id, populate_existing=True)
        builder = BUILDERS.get(job.kind)
        if builder is None:
            raise ExportError(f"phonebank cannot build a {job.kind.value} export.")
        export = builder(job)
        stored = f"{job.id}-{secrets.token_hex(8)}.csv"
        path = export_dir() / stored
        partial = path.with_name(stored + ".part")
        _set(job_id, total=export.total, filename=export.filename)
        with open(partial, "w", encoding="utf-8", newline="") as out:
            lines = csvfile.CsvLines(newline="\n" if export.copy_query is not None else "\r\n")
            out.write((csvfile.BOM if job.excel else "") + lines.rows([export.header]))
            if export.copy_query is not None:
                rows = _copy(job_id, export, out)
            else:
                rows, last = 0, time.monotonic()
                for batch in export.batches:
                    out.write(lines.rows(batch))
                    rows += len(batch)
                    if time.monotonic() - last >= PROGRESS_EVERY:
                        _set(job_id, rows=rows)
                        last = time.monotonic()
        os.replace(partial, path)
        db.session.rollback()
        _set(
            job_id,
            status=ExportStatus.DONE,
            rows=rows,
            stored_name=stored,
            finished_at=datetime.now(UTC),
        )
    except Exception as exc:
        db.session.rollback()
        log.exception("export %s failed", job_id)
        _set(
            job_id,
            status=ExportStatus.FAILED,
            error=str(exc) if isinstance(exc, ExportError) else "The export failed; see the log.",
            finished_at=datetime.now(UTC),
        )
        if not isinstance(exc, ExportError):
            raise
    return db.session.get(ExportJob, job_id, populate_existing=True)


def _copy(job_id: int, export, out) -> int:
    """PostgreSQL writes the rows as CSV itself (``COPY ... TO STDOUT``): the query already
    produces every cell as neutralised text, so a million rows take seconds, not minutes.
    Returns the number of rows."""
    compiled = export.copy_query.compile(dialect=db.engine.dialect)
    connection = db.session.connection().connection.driver_connection
    sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)"
    lines, last = 0, time.monotonic()
    with connection.cursor() as cursor:
        with cursor.copy(sql, compiled.params) as copy:
            for chunk in copy:
                text = bytes(chunk).decode("utf-8")
                out.write(text)
                lines += text.count("\n")  # (a newline inside a cell counts too: an estimate)
                if time.monotonic() - last >= PROGRESS_EVERY:
                    _set(job_id, rows=min(lines, export.total or lines))
                    last = time.monotonic()
        return cursor.rowcount


def file_path(job: ExportJob) -> Path | None:
    if job.status != ExportStatus.DONE or not job.stored_name:
        return None
    path = export_dir() / job.stored_name
    return path if path.exists() else None


def record_download(job: ExportJob, user: User) -> None:
    db.session.add(
        ExportLog(
            user_id=user.id,
            action="downloaded",
            what=describe(job),
            job_id=job.id,
            rows=job.rows,
            full_numbers=job.full_numbers,
        )
    )
    db.session.flush()


def recover_stale(now: datetime | None = None) -> int:
    """Jobs left running by a process that died are marked failed (they can be asked again)."""
    now = now or datetime.now(UTC)
    alive = {job_id for job_id, child in _children.items() if child.poll() is None}
    stale = [
        job
        for job in db.session.scalars(
            select(ExportJob).where(ExportJob.status == ExportStatus.RUNNING)
        )
        if job.id not in alive and (job.started_at or job.created_at) < now - STALE_AFTER
    ]
    for job in stale:
        job.status = ExportStatus.FAILED
        job.error = "The export stopped before it finished; please ask for it again."
        job.finished_at = now
    db.session.flush()
    return len(stale)


def status_payload(job: ExportJob) -> dict:
    return {
        "id": job.id,
        "kind": job.kind.value,
        "label": KIND_LABELS.get(job.kind, job.kind.value),
        "status": job.status.value,
        "rows": job.rows,
        "total": job.total,
        "fraction": round(job.rows / job.total, 3) if job.total else None,
        "filename": job.filename,
        "error": job.error,
        "ready": job.status == ExportStatus.DONE,
    }
