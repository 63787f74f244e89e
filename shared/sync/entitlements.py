"""A customer's active entitlements: stored from the summary event, or read whole from Stripe's API.

``entitlements.active_entitlement_summary.updated`` carries at most one page
(10) of the customer's entitlements; ``has_more`` says there are more. Then
the full list is read from ``GET /v1/entitlements/active_entitlements``,
paging to the end, once per customer per batch and before the write
transaction (``EntitlementFetcher``, like the subscription tie-break fetch).

A customer's set is replaced whole, under the ordering rule of
shared.sync.ordering with a per-customer version (``CustomerEntitlements``):
a summary older than the stored one is ignored, one of the same second is
settled by reading the list from Stripe. A thin notification of the type
carries no summary at all: its customer's list is always read
(shared.sync.handlers.apply_fetched_entitlements). When the set really
changes, the access version of the customer's user grows.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

import stripe

from shared.infra.access_changes import bump_access_versions
from shared.infra.db import is_postgres
from shared.infra.errors import EventError
from shared.infra.models import CustomerEntitlements, Entitlement, User
from shared.infra.timeutil import utcnow
from shared.sync.event_shape import check_active_entitlement
from shared.sync.stripe_objects import id_of

PAGE_SIZE = 100

Entitled = list[tuple[str, str]]  # (feature id, lookup key)


def from_summary(summary: dict) -> Entitled:
    """The entitlements an event's summary lists (checked by shared.sync.event_shape)."""
    return [(str(id_of(e["feature"])), e["lookup_key"]) for e in summary["entitlements"]["data"]]


def summary_is_partial(summary: dict) -> bool:
    return summary["entitlements"]["has_more"] is True


def fetch_all(client: stripe.StripeClient, customer_id: str, clock=time.time) -> tuple[Entitled, float]:
    """Every active entitlement of the customer, and when the first page was asked for.

    The first page's time is the conservative one: the set read is at least as
    new as that moment (shared.sync.ordering trusts a fetch from then on).
    """
    fetched_at = clock()
    params: Any = {"customer": customer_id, "limit": PAGE_SIZE}
    found: Entitled = []
    while True:
        page = client.v1.entitlements.active_entitlements.list(params=params)
        for entitlement in page.data:
            data = entitlement.to_dict()
            check_active_entitlement(data, "active entitlement")
            found.append((str(id_of(data["feature"])), data["lookup_key"]))
        if not page.has_more or not page.data:
            return found, fetched_at
        params = {**params, "starting_after": page.data[-1].id}


class EntitlementFetcher:
    """Customers' full entitlement lists from Stripe, at most one read per customer per batch."""

    def __init__(self, client: stripe.StripeClient, clock=time.time):
        self.client = client
        self.clock = clock
        self.cache: dict[str, tuple[Entitled, float] | Exception] = {}
        self.fetches = 0

    def prefetch(self, customer_ids: Iterable[str]) -> None:
        for customer_id in sorted(customer_ids):
            with contextlib.suppress(EventError):  # kept in the cache; the event that needs it fails then
                self.get(customer_id)

    def get(self, customer_id: str) -> tuple[Entitled, float]:
        if customer_id not in self.cache:
            self.fetches += 1
            try:
                self.cache[customer_id] = fetch_all(self.client, customer_id, self.clock)
            except (stripe.StripeError, EventError) as exc:
                self.cache[customer_id] = exc
        cached = self.cache[customer_id]
        if isinstance(cached, Exception):
            raise EventError(f"could not read the entitlements of {customer_id} from Stripe: {cached}")
        return cached


def lock_version(customer_id: str) -> CustomerEntitlements:
    """The customer's version row, created if new and locked until the transaction ends."""
    CustomerEntitlements.insert(customer_id=customer_id).on_conflict_ignore().execute()
    query = CustomerEntitlements.select().where(CustomerEntitlements.customer_id == customer_id)
    if is_postgres():
        query = query.for_update()
    return query.get()


def stored(customer_id: str) -> set[tuple[str, str]]:
    query = Entitlement.select(Entitlement.feature_id, Entitlement.lookup_key).where(
        Entitlement.customer_id == customer_id
    )
    return {(row.feature_id, row.lookup_key) for row in query}


def write(row: CustomerEntitlements, entitled: Entitled, version_created: int, fetched_at: float | None) -> bool:
    """Replace the customer's set and move its version on; True when the set changed."""
    changed = _replace(row.customer_id, entitled)
    row.version_created = version_created
    if fetched_at is not None:
        row.fetched_at = fetched_at
    row.updated_at = utcnow()
    row.save()
    return changed


def _replace(customer_id: str, entitled: Entitled) -> bool:
    wanted = dict(entitled)  # one row per feature, whatever the input repeats
    if stored(customer_id) == set(wanted.items()):
        return False
    Entitlement.delete().where(Entitlement.customer_id == customer_id).execute()
    rows = [{"customer_id": customer_id, "feature_id": f, "lookup_key": k} for f, k in sorted(wanted.items())]
    if rows:
        Entitlement.insert_many(rows).execute()
    bump_access_versions(User.stripe_customer_id == customer_id)
    return True
