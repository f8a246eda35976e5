"""``flask exports ...``: run one export job, or work through queued ones as a worker process;
``flask results recount``: recount a campaign's results tallies from its calls."""

from __future__ import annotations

import sys
import time

import click
from flask import current_app

from phonebank.extensions import db
from phonebank.models import Campaign
from phonebank.results import jobs, tallies

exports_cli = click.Group("exports", help="Build CSV exports queued from the results pages.")
results_cli = click.Group("results", help="Results tallies.")


@exports_cli.command("run")
@click.argument("job_id", type=int)
def run_command(job_id):
    """Build export JOB_ID now (the web process starts this for each export)."""
    job = jobs.run_job(job_id)
    click.echo(f"export {job.id}: {job.status.value}, {job.rows} rows", err=True)
    if job.status.value == "failed":
        raise click.ClickException(job.error or "failed")


@exports_cli.command("worker")
@click.option("--once", is_flag=True, help="Build what is queued, then exit.")
@click.option("--poll", default=2.0, show_default=True, help="Seconds between queue checks.")
def worker_command(once, poll):
    """Build queued exports one after another (with PHONEBANK_IMPORT_RUNNER=worker)."""
    click.echo("export worker: waiting for queued exports", err=True)
    while True:
        jobs.recover_stale()
        db.session.commit()
        job_id = jobs.claim_next()
        if job_id is None:
            if once:
                return
            time.sleep(poll)
            continue
        try:
            jobs.run_job(job_id)
        except Exception:
            current_app.logger.exception("export worker: export %s failed", job_id)
        sys.stderr.flush()


@results_cli.command("recount")
@click.argument("campaign_id", type=int)
def recount_command(campaign_id):
    """Recount CAMPAIGN_ID's results from its calls, in the campaign's time zone."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"There is no campaign {campaign_id}.")
    count = tallies.rebuild(campaign)
    click.echo(f"campaign {campaign_id}: {count} calls counted", err=True)
