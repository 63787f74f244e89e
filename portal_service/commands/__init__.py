"""Operator commands, one module per group; ``register`` adds them to the Flask CLI."""

from __future__ import annotations

import contextlib
import sys
import time

import click
import stripe
from flask import Flask, current_app


def register(app: Flask) -> None:
    from portal_service.commands import events, failed, portal_config, sync, users

    for command in (
        sync.sync_command,
        events.events_group,
        failed.failed_group,
        portal_config.portal_config_group,
        users.user_group,
    ):
        app.cli.add_command(command)


def settings():
    return current_app.config["SETTINGS"]


def stripe_client() -> stripe.StripeClient:
    return current_app.extensions["stripe"]


def redis_conn():
    return current_app.extensions["redis"]


def clock():
    """The time the commands stamp their Stripe fetches with; tests set CLOCK instead of sleeping."""
    return current_app.config.get("CLOCK", time.time)


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
