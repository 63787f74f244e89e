"""``events replay``: enqueue the events Stripe holds that the ledger has not applied."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from portal_service.commands import progress, stripe_errors, would
from portal_service.extensions import redis_client, stripe_client
from shared.infra.db import database
from shared.infra.timeutil import from_epoch, isoformat
from shared.sync import replay


@click.group("events", cls=AppGroup, help="Stripe events.")
def events_group() -> None:
    pass


@events_group.command(
    "replay",
    short_help="Enqueue the events since a time that the ledger has not applied.",
    help="List Stripe's events since a time and put those the ledger has "
    "not applied or ignored into the webhook inbox, oldest first. Stripe keeps 30 days.",
)
@click.option("--since", required=True, metavar="WHEN", help="ISO 8601 time (UTC if no offset) or 3d, 12h, 30m, 2w.")
@click.option("--undelivered-only", is_flag=True, help="Only events Stripe failed to deliver (delivery_success=false).")
@click.option("--dry-run", is_flag=True, help="List the events that would be enqueued; enqueue nothing.")
def replay_command(since: str, undelivered_only: bool, dry_run: bool) -> None:
    try:
        since_epoch = replay.parse_since(since, time.time())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if since_epoch < time.time() - replay.STRIPE_RETENTION_SECONDS:
        click.echo("warning: Stripe keeps events for 30 days; older ones cannot be replayed", err=True)
    with (
        stripe_errors(),
        progress(replay.fetch_events(stripe_client(), since_epoch, undelivered_only), "events") as bar,
    ):
        listed = list(bar)
    with database.connection_context():
        todo = replay.not_yet_applied(listed)
    for event in todo:
        if not dry_run:
            replay.enqueue(redis_client(), event)
        created = isoformat(from_epoch(event["created"]))
        click.echo(f"{would(dry_run, 'enqueue')} {event['id']} {event['type']} created {created}")
    done = len(listed) - len(todo)
    click.echo(
        f"replay: {len(listed)} listed, {done} already applied or ignored, "
        f"{len(todo)} {'would be enqueued' if dry_run else 'enqueued'}"
    )
