"""``api-key create|list|revoke``: keys of the service API (/api/v1/)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from shared.accounts import api_keys
from shared.infra.db import database
from shared.infra.models import ApiKey
from shared.infra.timeutil import isoformat


@click.group("api-key", cls=AppGroup, help="Keys the host app's backend calls /api/v1/ with.")
def api_key_group() -> None:
    pass


@api_key_group.command("create", short_help="Create a key; it is printed once.")
@click.option("--name", required=True, help="Who or what uses the key, e.g. 'host app production'.")
@click.option("--scope", type=click.Choice(api_keys.SCOPES), default=api_keys.READ, show_default=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "name", "scope", "key"} as JSON.')
def create_command(name: str, scope: str, as_json: bool) -> None:
    try:
        with database.connection_context():
            row, key = api_keys.create(name, scope)
    except api_keys.ApiKeyError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"id": row.id, "name": row.name, "scope": row.scope, "key": key}))
        return
    click.echo(f"created API key {row.id} {row.name!r} ({row.scope}). Keep it now; it is not shown again:")
    click.echo(key)


@api_key_group.command("list", short_help="List keys (never the keys themselves).")
def list_command() -> None:
    with database.connection_context():
        rows = api_keys.all_keys()
    for row in rows:
        click.echo(describe(row))


@api_key_group.command("revoke", short_help="Revoke a key; refused from the next request on.")
@click.argument("key_id", type=int)
def revoke_command(key_id: int) -> None:
    try:
        with database.connection_context():
            row = api_keys.revoke(key_id)
    except api_keys.ApiKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {describe(row)}")


def describe(row: ApiKey) -> str:
    state = f"revoked {isoformat(row.revoked_at)}" if row.revoked_at else "active"
    used = isoformat(row.last_used_at) or "never"
    return f"{row.id}\t{row.name}\t{row.scope}\tpsk_{row.lookup}…\t{state}\tlast used {used}"
