"""Repairing drift: bring subscription rows up to date with Stripe's API.

Each subscription read from Stripe is written through the worker's own path
(shared.sync.handlers.store_fetched) under the worker's ordering rule, so a sync
racing with webhook deliveries never puts an older state back. The counts of
the last run are kept in Redis for the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import stripe
from prometheus_client.core import GaugeMetricFamily

from shared.infra.db import write_transaction
from shared.infra.models import CustomerEntitlements, Subscription
from shared.infra.parsing import finite_number
from shared.infra.redis_conn import as_text
from shared.sync import entitlements
from shared.sync.handlers import store_fetched
from shared.sync.locked_rows import LockedSubscriptions
from shared.sync.ordering import fetch_supersedes
from shared.sync.stripe_objects import subscription_columns

if TYPE_CHECKING:
    from stripe.params import SubscriptionListParams

CREATED, CHANGED, UNCHANGED, KEPT = "created", "changed", "unchanged", "kept"
OUTCOMES = (CREATED, CHANGED, UNCHANGED, KEPT)
LAST_RUN_KEY = "portal:sync:last"
PAGE_SIZE = 100


@dataclass(frozen=True)
class Reconciled:
    subscription_id: str
    outcome: str
    fields: tuple[str, ...] = ()  # the columns that differ (all of them when created; unwritten when kept)


def fetch_subscriptions(
    client: stripe.StripeClient, customer: str | None = None, clock=time.time
) -> Iterator[tuple[dict, float]]:
    """Every subscription (all statuses), each with the time its page was requested.

    Pages are followed by hand rather than with auto_paging_iter so that each
    object carries the time of its own request: the ordering rule needs it.
    """
    params: SubscriptionListParams = {"status": "all", "limit": PAGE_SIZE}
    if customer:
        params["customer"] = customer
    while True:
        fetched_at = clock()
        page = client.v1.subscriptions.list(params=params)
        for sub in page.data:
            yield sub.to_dict(), fetched_at
        if not page.has_more or not page.data:
            return
        params = {**params, "starting_after": page.data[-1].id}


def reconcile(obj: dict, fetched_at: float, dry_run: bool = False) -> Reconciled:
    """Compare one fetched subscription with its row and, unless dry, store it."""
    columns = subscription_columns(obj)  # refuses an object without id, customer or status
    sub_id = obj["id"]
    if dry_run:
        return compare(sub_id, Subscription.get_or_none(Subscription.id == sub_id), columns, fetched_at)
    with write_transaction():
        existed = Subscription.get_or_none(Subscription.id == sub_id) is not None
        rows = LockedSubscriptions()
        rows.lock({sub_id: columns["customer_id"]})
        row = rows.locked(sub_id)
        result = compare(sub_id, row if existed else None, columns, fetched_at)
        if result.outcome != KEPT:
            store_fetched(rows, row, obj, fetched_at)
        rows.flush()
    return result


def reconcile_entitlements(
    client: stripe.StripeClient, customer_id: str, clock=time.time, dry_run: bool = False
) -> Reconciled:
    """Read the customer's full entitlement list from Stripe and, unless dry, store it.

    Through the same rule as events (shared.sync.entitlements): a stored set
    from an event too recent for the read to be sure to include it is kept.
    """
    entitled, fetched_at = entitlements.fetch_all(client, customer_id, clock)
    wanted = set(dict(entitled).items())
    if dry_run:
        row = CustomerEntitlements.get_or_none(CustomerEntitlements.customer_id == customer_id)
        return _compare_entitlements(customer_id, row, entitlements.stored(customer_id) != wanted, fetched_at)
    with write_transaction():
        row = entitlements.lock_version(customer_id)
        result = _compare_entitlements(customer_id, row, entitlements.stored(customer_id) != wanted, fetched_at)
        if result.outcome != KEPT:
            entitlements.write(row, entitled, row.version_created, fetched_at)
    return result


def _compare_entitlements(customer_id: str, row, differs: bool, fetched_at: float) -> Reconciled:
    fields = ("entitlements",) if differs else ()
    if row is not None and not fetch_supersedes(row.version_created, row.fetched_at, fetched_at):
        return Reconciled(customer_id, KEPT, fields)
    return Reconciled(customer_id, CHANGED if differs else UNCHANGED, fields)


def customers_with_entitlements(customer: str | None = None) -> set[str]:
    """Customers whose stored set sync must also check: a subscription gone from Stripe may have left one."""
    query = CustomerEntitlements.select(CustomerEntitlements.customer_id)
    if customer:
        query = query.where(CustomerEntitlements.customer_id == customer)
    return {row.customer_id for row in query}


def not_in_stripe(seen: set[str], customer: str | None = None) -> list[str]:
    """Rows no listed subscription matched (another account or mode's data?): reported, never deleted."""
    query = Subscription.select(Subscription.id)
    if customer:
        query = query.where(Subscription.customer_id == customer)
    return sorted(row.id for row in query if row.id not in seen)


def compare(sub_id: str, row: Subscription | None, columns: dict, fetched_at: float) -> Reconciled:
    if row is None:
        return Reconciled(sub_id, CREATED, tuple(columns))
    differing = tuple(name for name, value in columns.items() if getattr(row, name) != value)
    if not fetch_supersedes(row.version_created, row.fetched_at, fetched_at):
        return Reconciled(sub_id, KEPT, differing)  # what the fetch would have changed
    return Reconciled(sub_id, CHANGED if differing else UNCHANGED, differing)


def record_run(conn: redis.Redis, counts: dict[str, int], finished_at: float) -> None:
    """Keep the last real run's counts for /metrics (a dry run records nothing)."""
    conn.hset(LAST_RUN_KEY, mapping={**{k: counts.get(k, 0) for k in OUTCOMES}, "finished_at": finished_at})


def last_run(conn: redis.Redis) -> dict[str, float]:
    numbers = {as_text(key): finite_number(value) for key, value in conn.hgetall(LAST_RUN_KEY).items()}
    return {key: number for key, number in numbers.items() if number is not None}


def drift_gauges(conn: redis.Redis):
    """The last sync's drift as scrape-time gauges (the web hands this to shared.ops.metrics)."""
    yield from drift_families(last_run(conn))


def drift_families(last: dict[str, float]):
    """portal_sync_drift{kind} and the time of the run it comes from; nothing before the first run."""
    if not last:
        return
    drift = GaugeMetricFamily("portal_sync_drift", "Rows the last sync found out of date, by kind.", labels=["kind"])
    for kind in (CREATED, CHANGED):
        drift.add_metric([kind], last.get(kind, 0))
    yield drift
    finished = GaugeMetricFamily("portal_sync_last_run_timestamp_seconds", "When the last sync finished.")
    finished.add_metric([], last.get("finished_at", 0))
    yield finished
