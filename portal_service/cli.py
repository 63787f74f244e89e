"""Operator commands: ``flask --app portal_service ...`` or the ``portal-service`` script."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from shared.infra import migrations
from shared.infra.db import database


@click.group("db", help="Database schema.")
def db_group():
    pass


@db_group.command("upgrade", help="Apply pending schema migrations (safe to run again).")
def db_upgrade():
    with database.connection_context():
        applied = migrations.upgrade()
    for version, name in applied:
        click.echo(f"applied {version}: {name}")
    click.echo(f"schema at version {migrations.LATEST_VERSION} ({len(applied)} applied now)")


@db_group.command("status", help="Show applied and pending migrations; exit 1 if any are pending.")
def db_status():
    with database.connection_context():
        waiting = migrations.pending()
    for version, name in waiting:
        click.echo(f"pending {version}: {name}")
    click.echo("up to date" if not waiting else f"{len(waiting)} pending")
    raise SystemExit(1 if waiting else 0)


def init_app(app: Flask) -> None:
    from portal_service import commands

    app.cli.add_command(db_group)
    commands.register(app)


def _create_app():
    from portal_service import create_app

    return create_app()


cli = FlaskGroup(create_app=_create_app, add_default_commands=False, help="Billing portal service commands.")


def main() -> None:
    cli(prog_name="portal-service")
