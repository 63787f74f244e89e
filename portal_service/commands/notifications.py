"""``notifications list|redeliver``: what the host app has been told of access changes."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal_service.extensions import settings
from shared.billing import host_notifications
from shared.infra.db import database
from shared.infra.models import HostNotification, User
from shared.infra.timeutil import isoformat

LIST_LIMIT = 200


@click.group("notifications", cls=AppGroup, help="Access changes sent to the host app (HOST_WEBHOOK_URL).")
def notifications_group() -> None:
    pass


@notifications_group.command("list", short_help="Notifications not yet delivered (or only the failed ones).")
@click.option("--failed", "failed_only", is_flag=True, help="Only those whose retries are exhausted.")
def list_command(failed_only: bool) -> None:
    if not settings().host_webhook_url:
        click.echo("HOST_WEBHOOK_URL is not set: nothing is sent to the host app.", err=True)
    note = HostNotification
    states = (note.FAILED,) if failed_only else (note.PENDING, note.FAILED)
    with database.connection_context():
        rows = list(
            note.select(note, User.external_id)
            .join(User, on=(User.id == note.user_id))
            .where(note.state.in_(states))
            .order_by(note.id)
            .limit(LIST_LIMIT)
            .objects()
        )
    for row in rows:
        click.echo(describe(row))
    click.echo(f"{len(rows)} notification(s)" + (f" (first {LIST_LIMIT})" if len(rows) == LIST_LIMIT else ""))


@notifications_group.command("redeliver", short_help="Send one notification, or every failed one, again now.")
@click.argument("notification_id", type=int, required=False)
@click.option("--failed", "all_failed", is_flag=True, help="Every notification whose retries are exhausted.")
def redeliver_command(notification_id: int | None, all_failed: bool) -> None:
    if (notification_id is None) == (not all_failed):
        raise click.UsageError("give a notification ID or --failed (not both)")
    with database.connection_context():
        count = host_notifications.redeliver(None if all_failed else notification_id)
    if notification_id is not None and not count:
        raise click.ClickException(f"no notification {notification_id} to redeliver (unknown, or being sent now)")
    click.echo(f"{count} notification(s) due again now; a worker sends them")


def describe(row) -> str:
    error = f"\tlast error: {row.last_error}" if row.last_error else ""
    return (
        f"{row.id}\t{row.external_id}\tversion {row.version}\t{row.state}\tattempts {row.attempts}"
        f"\tpending since {isoformat(row.pending_since) or '-'}\tnext {isoformat(row.next_attempt_at)}{error}"
    )
