"""The plans on offer (BILLING_PLANS), with names and prices read from Stripe.

``BILLING_PLANS`` lists lookup keys or price ids (the catalog file's price
lookup keys, docs/catalog.example.toml). Names, amounts and the names of the
features each plan's product carries come from Stripe (the price's product,
unit amount and product features), so a price edited in the dashboard or a
feature added by ``catalog apply`` shows without a deploy; they are cached
for a few minutes so a page view does not cost a Stripe call each time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import stripe

CACHE_SECONDS = 300


@dataclass(frozen=True)
class Plan:
    key: str  # as configured: a lookup key or a price id
    price_id: str
    name: str
    unit_amount: int | None
    currency: str
    interval: str | None
    features: tuple[str, ...] = ()  # the names of the features its product carries


def plan_from_price(key: str, price: dict, features: tuple[str, ...] = ()) -> Plan:
    product = price.get("product")
    name = product.get("name") if isinstance(product, dict) else None
    return Plan(
        key=key,
        price_id=price["id"],
        name=name or price.get("nickname") or price.get("lookup_key") or price["id"],
        unit_amount=price.get("unit_amount"),
        currency=price.get("currency") or "usd",
        interval=(price.get("recurring") or {}).get("interval"),
        features=features,
    )


def product_of(price: dict) -> str | None:
    product = price.get("product")
    return product.get("id") if isinstance(product, dict) else product


def is_price_id(key: str) -> bool:
    return key.startswith("price_")


class PlanCatalog:
    """The configured plans, resolved through Stripe and cached for ``ttl`` seconds."""

    def __init__(
        self, client: stripe.StripeClient, keys: tuple[str, ...], ttl: float = CACHE_SECONDS, clock=time.monotonic
    ):
        self.client = client
        self.keys = keys
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._plans: list[Plan] | None = None
        self._others: dict[str, Plan] = {}
        self._loaded_at = 0.0

    def plans(self) -> list[Plan]:
        """Every configured plan, in BILLING_PLANS order. Raises stripe.StripeError."""
        with self._lock:
            if self._plans is None or self.clock() - self._loaded_at > self.ttl:
                self._plans = self._load()
                self._others = {}
                self._loaded_at = self.clock()
            return list(self._plans)

    def find(self, key: str) -> Plan | None:
        """The configured plan named by a lookup key or price id; None if not on offer."""
        if key not in self.keys and not is_price_id(key):
            return None  # unknown names never cost a Stripe call
        return next((plan for plan in self.plans() if key in (plan.key, plan.price_id)), None)

    def for_price(self, price_id: str | None) -> Plan | None:
        """The plan a subscription is on, configured or not (a price since retired)."""
        if not price_id:
            return None
        known = next((plan for plan in self.plans() if plan.price_id == price_id), None)
        if known:
            return known
        with self._lock:
            if price_id not in self._others:
                price = self.client.v1.prices.retrieve(price_id, params={"expand": ["product"]}).to_dict()
                features = self._features({product_of(price)})
                self._others[price_id] = plan_from_price(price_id, price, features.get(product_of(price), ()))
            return self._others[price_id]

    def _load(self) -> list[Plan]:
        lookup_keys = [key for key in self.keys if not is_price_id(key)]
        prices: dict[str, dict] = {}
        if lookup_keys:
            page = self.client.v1.prices.list(
                params={"lookup_keys": lookup_keys, "expand": ["data.product"], "limit": 100}
            )
            for price in page.data:
                data = price.to_dict()
                prices[data["lookup_key"]] = data  # set: the prices were listed by it
        for key in self.keys:
            if is_price_id(key):
                prices[key] = self.client.v1.prices.retrieve(key, params={"expand": ["product"]}).to_dict()
        features = self._features({product_of(price) for price in prices.values()})
        return [
            plan_from_price(key, prices[key], features.get(product_of(prices[key]), ()))
            for key in self.keys
            if key in prices
        ]

    def _features(self, product_ids: set[str | None]) -> dict[str | None, tuple[str, ...]]:
        """The names of the active features each product carries, in the order they were attached."""
        found: dict[str | None, tuple[str, ...]] = {}
        for product_id in sorted(p for p in product_ids if p):
            page = self.client.v1.products.features.list(product_id, params={"limit": 100})
            attached = [a.to_dict()["entitlement_feature"] for a in page.auto_paging_iter()]
            found[product_id] = tuple(f["name"] for f in reversed(attached) if f.get("active", True))
        return found
