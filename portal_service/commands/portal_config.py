"""``portal-config diff|apply FILE``: the Customer Portal configuration, from a file."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from portal_service.commands import stripe_errors
from portal_service.extensions import settings, stripe_client
from shared.billing import portal_config
from shared.infra import stored_settings
from shared.infra.db import database

FILE = click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))


@click.group(
    "portal-config",
    cls=AppGroup,
    short_help="Customer Portal configuration, from a file.",
    help="Customer Portal configuration (TOML or YAML, Stripe's field names).",
)
def portal_config_group() -> None:
    pass


def _plan(path: str):
    """The file's settings, the configuration Stripe holds now, and the changes between them."""
    try:
        desired = portal_config.load(path)
    except portal_config.ConfigFileError as exc:
        raise click.ClickException(str(exc)) from None
    with database.connection_context():
        configuration_id = stored_settings.portal_configuration_id(settings())
    current = portal_config.retrieve(stripe_client(), configuration_id)
    return desired, current, portal_config.diff(desired, current)


def _show(current, changes) -> None:
    click.echo(f"configuration: {current['id'] if current else 'none yet (would be created)'}")
    for change in changes:
        if change.old is None:
            click.echo(f"+ {change.path}: {json.dumps(change.new)}")
        else:
            click.echo(f"~ {change.path}: {json.dumps(change.old)} -> {json.dumps(change.new)}")


@portal_config_group.command("diff", help="Show, field by field, what `apply` would change in Stripe.")
@FILE
def diff_command(path: str) -> None:
    with stripe_errors():
        _, current, changes = _plan(path)
    _show(current, changes)
    click.echo(f"{len(changes)} change(s)")


@portal_config_group.command(
    "apply",
    short_help="Create or update the configuration in Stripe.",
    help="Create or update the configuration in Stripe and record "
    "its id (in the setting table) for portal sessions; PORTAL_CONFIGURATION_ID wins.",
)
@FILE
@click.option("--dry-run", is_flag=True, help="Only show the changes (the same as `diff`).")
def apply_command(path: str, dry_run: bool) -> None:
    with stripe_errors():
        desired, current, changes = _plan(path)
        _show(current, changes)
        if dry_run or not changes:
            click.echo(f"{len(changes)} change(s){' (dry run: nothing sent)' if dry_run else ': up to date'}")
            return
        configuration_id = portal_config.send(stripe_client(), desired, current)
    with database.connection_context():
        stored_settings.put(stored_settings.PORTAL_CONFIGURATION, configuration_id)
    click.echo(f"{len(changes)} change(s) applied; {'updated' if current else 'created'} {configuration_id}")
