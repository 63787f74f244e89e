"""``sync``: repair drift between Stripe's subscriptions and the database."""

from __future__ import annotations

import time
from collections import Counter

import click
import redis
from flask.cli import with_appcontext

from portal_service.commands import progress, stripe_errors
from portal_service.extensions import clock, redis_client, stripe_client
from shared.infra.db import database
from shared.infra.errors import EventError
from shared.sync import reconcile
from shared.sync.stripe_objects import id_of


@click.command(
    "sync",
    short_help="Bring subscription rows up to date with Stripe.",
    help="Bring subscription rows up to date with Stripe (all statuses), "
    "through the worker's own ordering rule. Reports rows created, changed, unchanged, "
    "and kept (the database already holds a newer state than the fetch).",
)
@click.option("--customer", metavar="CUS", help="Only this Stripe customer's subscriptions.")
@click.option("--dry-run", is_flag=True, help="Change nothing; report what would change.")
@with_appcontext
def sync_command(customer: str | None, dry_run: bool) -> None:
    counts: Counter = Counter()
    entitled: Counter = Counter()
    seen: set[str] = set()
    customers: set[str] = set()
    with database.connection_context(), stripe_errors(lambda: _stopped(counts, dry_run)):
        with progress(reconcile.fetch_subscriptions(stripe_client(), customer, clock()), "subscriptions") as bar:
            for obj, fetched_at in bar:
                seen.add(obj.get("id"))
                customers.add(id_of(obj.get("customer")) or "")
                counts[_reconcile(obj, fetched_at, dry_run)] += 1
        unknown = reconcile.not_in_stripe(seen, customer)
        customers = (
            ((customers - {""}) | reconcile.customers_with_entitlements(customer)) if not customer else {customer}
        )
        with progress(sorted(customers), "entitlements") as bar:
            for customer_id in bar:
                entitled[_reconcile_entitlements(customer_id, dry_run)] += 1
    for sub_id in unknown:
        click.echo(f"{sub_id} is in the database but not in Stripe: left as it is")
    if not dry_run:
        _record(counts)
    click.echo(_entitlement_summary(entitled, dry_run))
    click.echo(_summary(counts, dry_run) + (f"; {len(unknown)} not in Stripe" if unknown else ""))
    if counts["invalid"] or entitled["invalid"]:
        raise SystemExit(1)


def _reconcile_entitlements(customer_id: str, dry_run: bool) -> str:
    try:
        result = reconcile.reconcile_entitlements(stripe_client(), customer_id, clock(), dry_run)
    except EventError as exc:
        click.echo(f"invalid entitlements of {customer_id}: {exc}", err=True)
        return "invalid"
    if result.outcome == reconcile.CHANGED:
        click.echo(f"{customer_id} entitlements {'would be changed' if dry_run else 'changed'}")
    return result.outcome


def _entitlement_summary(counts: Counter, dry_run: bool) -> str:
    parts = [f"{counts[outcome]} {outcome}" for outcome in (reconcile.CHANGED, reconcile.UNCHANGED, reconcile.KEPT)]
    if counts["invalid"]:
        parts.append(f"{counts['invalid']} invalid")
    tail = " (dry run: nothing written)" if dry_run else ""
    return f"sync: entitlements of {sum(counts.values())} customers: " + ", ".join(parts) + tail


def _reconcile(obj: dict, fetched_at: float, dry_run: bool) -> str:
    try:
        result = reconcile.reconcile(obj, fetched_at, dry_run)
    except EventError as exc:
        click.echo(f"invalid {obj.get('id')}: {exc}", err=True)
        return "invalid"
    verb = f"would be {result.outcome}" if dry_run else result.outcome
    if result.outcome == reconcile.CREATED:
        click.echo(
            f"{result.subscription_id} {verb}: customer {id_of(obj.get('customer'))}, status {obj.get('status')}"
        )
    elif result.outcome == reconcile.CHANGED:
        click.echo(f"{result.subscription_id} {verb}: {', '.join(result.fields)}")
    return result.outcome


def _record(counts: Counter) -> None:
    try:
        reconcile.record_run(redis_client(), counts, time.time())
    except redis.RedisError as exc:
        click.echo(f"warning: the run's counts were not recorded for /metrics ({type(exc).__name__})", err=True)


def _stopped(counts: Counter, dry_run: bool) -> str:
    done = _summary(counts, dry_run)
    return done if dry_run else done + ". Those rows are written; run sync again to finish."


def _summary(counts: Counter, dry_run: bool) -> str:
    parts = [f"{counts[outcome]} {outcome}" for outcome in reconcile.OUTCOMES]
    if counts["invalid"]:
        parts.append(f"{counts['invalid']} invalid")
    tail = " (dry run: nothing written)" if dry_run else ""
    return f"sync: {sum(counts.values())} subscriptions: " + ", ".join(parts) + tail
