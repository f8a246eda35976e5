"""``flask lists ...``: import a file from the command line, run one queued import, or work
through queued imports as a separate worker process. All use the upload page's code path."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import click
from flask import current_app
from sqlalchemy import select, update

from phonebank.extensions import db
from phonebank.lists import mapping as mappings
from phonebank.lists import services
from phonebank.lists.importer import ImportCancelled, Progress
from phonebank.lists.reader import ListFileError
from phonebank.models import Campaign, ListStatus, PeopleList

lists_cli = click.Group("lists", help="Import target lists into the supporter store.")


def _echo_progress(progress: Progress) -> None:
    left = f", about {progress.seconds_left:.0f} s left" if progress.seconds_left else ""
    click.echo(
        f"  {progress.phase}: {progress.rows:,} rows ({progress.fraction:.0%}), "
        f"{progress.rate:,.0f} rows/s{left}",
        err=True,
    )


@lists_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", default="", help="The list's name (default: the file name).")
@click.option("--campaign", "campaigns", multiple=True, type=int, help="Campaign id to feed.")
@click.option("--region", default=None, help="Default phone region, e.g. US or GB.")
@click.option("--system", default=None, help="External id system, e.g. van or nationbuilder.")
@click.option("--no-header", is_flag=True, help="Row 1 is data, not column names.")
@click.option("--tag", default="", help="Tag everyone in the list with this tag.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def import_command(path, name, campaigns, region, system, no_header, tag, as_json):
    """Import PATH with the suggested (or last saved) column mapping."""
    for campaign_id in campaigns:
        if db.session.get(Campaign, campaign_id) is None:
            raise click.ClickException(f"There is no campaign {campaign_id}.")
    plist = None
    try:
        plist = services.store_path(path, name)
        if no_header and plist.file_format.get("has_header"):
            services.change_format(plist, has_header=False)
        mapping = dict(plist.mapping)
        mapping.pop("reused", None)
        if region:
            mapping["region"] = region.upper()
        if system:
            mapping["id_system"] = system.lower()
        mapping["list_tag"] = tag
        services.confirm(plist, mapping, list(campaigns))
        db.session.commit()
    except (ListFileError, mappings.MappingError) as exc:
        db.session.rollback()
        if plist is not None:  # stored, then refused: keep nothing
            services.upload_path(plist).unlink(missing_ok=True)
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"List {plist.id}: importing {plist.filename} ({plist.size_bytes:,} bytes)", err=True
    )
    for column, meaning in mappings.describe(plist.mapping, plist.header):
        click.echo(f"  {column} -> {meaning}", err=True)
    report = _run(plist.id)
    if as_json:
        click.echo(json.dumps(report))
    else:
        for key, value in report.items():
            click.echo(f"{key}: {value}")


def _run(list_id: int) -> dict:
    try:
        return services.run_with_files(list_id, echo=_echo_progress)
    except ImportCancelled:
        raise click.ClickException("Cancelled; nothing from this import was kept.") from None
    except ListFileError as exc:
        raise click.ClickException(str(exc)) from None


@lists_cli.command("run")
@click.argument("list_id", type=int)
def run_command(list_id):
    """Run one queued import (the web process starts this as a child process)."""
    report = _run(list_id)
    click.echo(json.dumps(report))


@lists_cli.command("worker")
@click.option("--once", is_flag=True, help="Import what is queued, then exit.")
@click.option("--poll", default=2.0, show_default=True, help="Seconds between queue checks.")
def worker_command(once, poll):
    """Import queued lists one after another (set PHONEBANK_IMPORT_RUNNER=worker)."""
    click.echo("list worker: waiting for queued imports", err=True)
    while True:
        list_id = _claim()
        if list_id is None:
            if once:
                return
            time.sleep(poll)
            continue
        click.echo(f"list worker: importing list {list_id}", err=True)
        try:
            _run(list_id)
        except click.ClickException as exc:
            click.echo(f"list worker: list {list_id}: {exc.message}", err=True)
        except Exception:
            current_app.logger.exception("list worker: list %s failed", list_id)
        sys.stderr.flush()


def _claim() -> int | None:
    """Take the oldest queued list; on PostgreSQL, safely among several workers."""
    services.recover_stale()
    query = (
        select(PeopleList.id)
        .where(PeopleList.status == ListStatus.QUEUED)
        .order_by(PeopleList.id)
        .limit(1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    list_id = db.session.scalar(query)
    if list_id is not None:
        db.session.execute(
            update(PeopleList)
            .where(PeopleList.id == list_id)
            .values(status=ListStatus.RUNNING, started_at=datetime.now(UTC))
        )
    db.session.commit()
    return list_id
