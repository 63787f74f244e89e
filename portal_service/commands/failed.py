"""``failed list|requeue|purge``: events whose jobs finally failed."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal_service.commands import would
from portal_service.extensions import redis_client
from shared.infra.db import database
from shared.ops import failed_events


@click.group(
    "failed",
    cls=AppGroup,
    short_help="Events whose retries are exhausted.",
    help="Events whose retries are exhausted (RQ's failed registry of the billing queue).",
)
def failed_group() -> None:
    pass


def _failed() -> list[failed_events.FailedEvent]:
    with database.connection_context():
        return failed_events.list_failed(redis_client())


def _line(failed: failed_events.FailedEvent) -> str:
    row = failed.ledger
    ledger = f"{row.type} ledger={row.outcome} attempts={row.attempts}" if row else "ledger=none"
    return f"{failed.event_id} {ledger} job={failed.job_id}\n    {failed.error}"


@failed_group.command("list", help="Each failed event with its error and its ledger row.")
def list_command() -> None:
    found = _failed()
    for failed in found:
        click.echo(_line(failed))
    click.echo(f"{len(found)} failed event(s)")


@failed_group.command("requeue", help="Run failed events again (after fixing their cause).")
@click.argument("event_ids", nargs=-1, metavar="[EVENT_ID]...")
@click.option("--all", "everything", is_flag=True, help="Every failed event.")
@click.option("--dry-run", is_flag=True, help="Show what would be requeued; requeue nothing.")
def requeue_command(event_ids: tuple[str, ...], everything: bool, dry_run: bool) -> None:
    if everything == bool(event_ids):
        raise click.UsageError("give either --all or one or more EVENT_IDs")
    chosen = _choose(_failed(), event_ids, everything)
    for failed in chosen:
        click.echo(f"{would(dry_run, 'requeue')} {failed.event_id}")
    count = len(chosen) if dry_run else failed_events.requeue(redis_client(), chosen)
    click.echo(f"{count} {'would be requeued' if dry_run else 'requeued'}")


@failed_group.command("purge", help="Delete every failed job; the ledger rows stay, marked failed.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_command(dry_run: bool, yes: bool) -> None:
    chosen = _failed()
    for failed in chosen:
        click.echo(f"{would(dry_run, 'purge')} {failed.event_id}")
    if dry_run:
        click.echo(f"{len(chosen)} would be purged")
        return
    if chosen and not yes:
        click.confirm(f"Delete {len(chosen)} failed job(s)?", abort=True)
    click.echo(f"{failed_events.purge(redis_client(), chosen)} purged")


def _choose(found, event_ids, everything):
    if everything:
        return found
    try:
        return failed_events.select(found, event_ids)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
