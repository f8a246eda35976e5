"""``flask webhooks worker`` (the Procfile's ``webhooks`` process) and ``flask api create-key``."""

from __future__ import annotations

import signal

import click

from phonebank.api import keys, webhooks
from phonebank.extensions import db
from phonebank.models import ApiScope

webhooks_cli = click.Group("webhooks", help="Deliver the change feed to webhook subscriptions.")
api_cli = click.Group("api", help="API keys.")


@webhooks_cli.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due, then exit.")
@click.option("--idle", default=0.5, show_default=True, help="Seconds to wait when idle.")
def worker_command(once, idle):
    """Deliver pending events to every due subscription, for as long as it runs."""
    if once:
        while webhooks.work_once():
            pass
        return
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    click.echo("webhook worker: delivering the change feed", err=True)
    webhooks.work_forever(idle, stop=lambda: bool(stopping))


@api_cli.command("create-key")
@click.option("--name", required=True, help="Which integration uses the key.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice([s.value for s in ApiScope]),
    required=True,
    help="What the key may do (repeat for several).",
)
@click.option("--campaign", type=int, default=None, help="Restrict the key to one campaign.")
@click.option("--rate", type=int, default=600, show_default=True, help="Requests a minute.")
def create_key_command(name, scopes, campaign, rate):
    """Make an API key and print it (the only time it is shown)."""
    try:
        _, token = keys.create_key(
            name, list(scopes), by=None, campaign_id=campaign, rate_per_minute=rate
        )
    except keys.KeyRefused as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(token)
