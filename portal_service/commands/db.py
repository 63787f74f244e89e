"""``db upgrade|status``: the database schema."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from shared.infra import migrations
from shared.infra.db import database


@click.group("db", cls=AppGroup, help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply pending schema migrations (safe to run again).")
def upgrade_command() -> None:
    with database.connection_context():
        applied = migrations.upgrade()
    for version, name in applied:
        click.echo(f"applied {version}: {name}")
    click.echo(f"schema at version {migrations.LATEST_VERSION} ({len(applied)} applied now)")


@db_group.command("status", help="Show applied and pending migrations; exit 1 if any are pending.")
def status_command() -> None:
    with database.connection_context():
        waiting = migrations.pending()
    for version, name in waiting:
        click.echo(f"pending {version}: {name}")
    click.echo("up to date" if not waiting else f"{len(waiting)} pending")
    raise SystemExit(1 if waiting else 0)
