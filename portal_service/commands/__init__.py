"""Operator commands, one module per group; ``register`` adds them to the Flask CLI."""

from __future__ import annotations

import contextlib
import sys

import click
import stripe
from flask import Flask


def all_commands() -> list[click.Command]:
    """Every operator command and group: for the console script and for ``app.cli``."""
    from portal_service.commands import api_keys, catalog, db, events, failed, notifications, portal_config, sync, users

    return [
        api_keys.api_key_group,
        db.db_group,
        catalog.catalog_group,
        sync.sync_command,
        events.events_group,
        failed.failed_group,
        notifications.notifications_group,
        portal_config.portal_config_group,
        users.user_group,
    ]


def register(app: Flask) -> None:
    for command in all_commands():
        app.cli.add_command(command)


def progress(iterable, label: str, length: int | None = None):
    """A progress bar on stderr, so that stdout stays the command's answer."""
    return click.progressbar(iterable, length=length, label=label, file=sys.stderr)


@contextlib.contextmanager
def stripe_errors(so_far=None):
    """A Stripe API error ends the command with Stripe's message, not a traceback.

    ``so_far``, when given, says what the command had done before the error:
    an operator must know whether to run it again.
    """
    try:
        yield
    except stripe.StripeError as exc:
        message = f"Stripe: {exc.user_message or exc}"
        if so_far is not None:
            message += f"\nStopped part way. {so_far()}"
        raise click.ClickException(message) from None


def would(dry_run: bool, verb: str) -> str:
    return f"would {verb}" if dry_run else verb
