"""``catalog diff|apply FILE``: products, prices and features in Stripe, from the catalog file."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal_service.commands import stripe_errors
from portal_service.extensions import stripe_client
from shared.billing import catalog, catalog_file

FILE = click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
ARCHIVE = click.option(
    "--archive-missing", is_flag=True, help="Archive what the file no longer names (detach its features)."
)


@click.group(
    "catalog",
    cls=AppGroup,
    short_help="Products, prices and features, from a file.",
    help="Products, prices and features in Stripe from a TOML catalog file (see docs/catalog.example.toml), "
    "matched by lookup key. Nothing is ever deleted.",
)
def catalog_group() -> None:
    pass


def _plan(path: str, archive_missing: bool):
    try:
        wanted = catalog_file.load(path)
        current = catalog.read_current(stripe_client())
    except catalog_file.CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    steps, notes = catalog.plan(wanted, current, archive_missing)
    return current, steps, notes


def _notes(notes: list[str]) -> None:
    for note in notes:
        click.echo(f"note: {note} (--archive-missing archives it)")


@catalog_group.command("diff", help="Show what `apply` would change in Stripe; change nothing.")
@FILE
@ARCHIVE
def diff_command(path: str, archive_missing: bool) -> None:
    with stripe_errors():
        _, steps, notes = _plan(path, archive_missing)
    for step in steps:
        click.echo(step.change.line(dry_run=True))
    _notes(notes)
    click.echo(f"catalog: {len(steps)} change(s)" if steps else "catalog: up to date")


@catalog_group.command("apply", help="Make Stripe match FILE: create or update, never delete. Safe to repeat.")
@FILE
@ARCHIVE
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
def apply_command(path: str, archive_missing: bool, dry_run: bool) -> None:
    done: list[catalog.Change] = []
    with stripe_errors(lambda: f"{len(done)} change(s) made; run apply again to finish."):
        current, steps, notes = _plan(path, archive_missing)
        if dry_run:
            for step in steps:
                click.echo(step.change.line(dry_run=True))
        else:
            catalog.apply(stripe_client(), steps, current, lambda change: _done(done, change))
    _notes(notes)
    tail = " (dry run: nothing changed)" if dry_run else ""
    click.echo((f"catalog: {len(steps)} change(s)" if steps else "catalog: up to date") + tail)


def _done(done: list, change: catalog.Change) -> None:
    done.append(change)
    click.echo(change.line())
