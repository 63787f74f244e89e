"""What features customers are entitled to: the lookup keys the access answers list.

A feature check in the host app is ``lookup_key in entitlements``; a customer
with no Stripe features configured has ``[]``.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.infra.models import Entitlement


def entitlements_by_customer(customer_ids: Iterable[str | None]) -> dict[str, list[str]]:
    """Each customer's entitlement lookup keys, sorted (``[]`` for none): one query."""
    wanted = sorted({customer_id for customer_id in customer_ids if customer_id})
    found: dict[str, list[str]] = {customer_id: [] for customer_id in wanted}
    if not wanted:
        return found
    query = (
        Entitlement.select(Entitlement.customer_id, Entitlement.lookup_key)
        .where(Entitlement.customer_id.in_(wanted))
        .order_by(Entitlement.customer_id, Entitlement.lookup_key)
    )
    for row in query:
        found[row.customer_id].append(row.lookup_key)
    return found
