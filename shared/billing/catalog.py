"""The catalog as code: bring Stripe's products, prices and features in line with the catalog file.

Objects are matched by lookup key: a feature's and a price's own
``lookup_key``, a product's ``metadata.lookup_key`` (Stripe products have no
lookup key of their own). Nothing is ever deleted. A price's amount, currency
and interval cannot change in Stripe, so a changed price is *replaced*: a new
price takes the lookup key over (``transfer_lookup_key``) and the old one stays
for the subscriptions on it. What the file no longer names is reported and
kept, or archived (features detached from its products) with ``archive_missing``.

``plan`` compares without writing; ``apply`` runs the steps in order
(features, products, prices, attachments, then archiving), so a run that
stops part way is finished by running again: every step is found done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import stripe

from shared.billing.catalog_file import Catalog, CatalogError, PriceSpec, ProductSpec

PRODUCT_KEY = "lookup_key"  # the product metadata key that holds its lookup key
PAGE: Any = {"limit": 100}


@dataclass(frozen=True)
class Change:
    kind: str  # feature, product, price
    verb: str  # create, update, replace, attach, detach, archive
    key: str
    detail: str = ""

    def line(self, dry_run: bool = False) -> str:
        verb = f"would {self.verb}" if dry_run else self.verb
        return f"{verb} {self.kind} {self.key}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Current:
    """What Stripe holds, by lookup key."""

    features: dict[str, dict] = field(default_factory=dict)
    products: dict[str, dict] = field(default_factory=dict)
    prices: dict[str, dict] = field(default_factory=dict)
    unkeyed_prices: list[dict] = field(default_factory=list)  # prices of catalog products without a lookup key
    attached: dict[str, dict[str, str]] = field(default_factory=dict)  # product id -> feature id -> attachment id


def read_current(client: stripe.StripeClient) -> Current:
    current = Current()
    for feature in _all(client.v1.entitlements.features.list(params=PAGE)):
        current.features[feature["lookup_key"]] = feature
    for product in _all(client.v1.products.list(params=PAGE)):
        key = (product.get("metadata") or {}).get(PRODUCT_KEY)
        if key and key in current.products:
            raise CatalogError(
                f"products {current.products[key]['id']} and {product['id']} both carry metadata.{PRODUCT_KEY}"
                f" {key!r}: clear it on the one the catalog should not manage"
            )
        if key:
            current.products[key] = product
    managed = {product["id"] for product in current.products.values()}
    for price in _all(client.v1.prices.list(params=PAGE)):
        if price.get("lookup_key"):
            current.prices[price["lookup_key"]] = price
        elif price.get("product") in managed:
            current.unkeyed_prices.append(price)
    for product_id in sorted(managed):
        attachments = _all(client.v1.products.features.list(product_id, params=PAGE))
        current.attached[product_id] = {a["entitlement_feature"]["id"]: a["id"] for a in attachments}
    return current


def _all(page) -> list[dict]:
    return [obj.to_dict() for obj in page.auto_paging_iter()]


@dataclass(frozen=True)
class Step:
    change: Change
    action: str  # an Applier method
    args: tuple = ()


class Applier:
    """Runs steps, remembering the ids of what it creates for the steps after."""

    def __init__(self, client: stripe.StripeClient, current: Current):
        self.client = client
        self.feature_ids = {key: f["id"] for key, f in current.features.items()}
        self.product_ids = {key: p["id"] for key, p in current.products.items()}

    def run(self, step: Step) -> None:
        getattr(self, step.action)(*step.args)

    def create_feature(self, key: str, name: str) -> None:
        created = self.client.v1.entitlements.features.create(params={"lookup_key": key, "name": name})
        self.feature_ids[key] = created.id

    def update_feature(self, feature_id: str, params: Any) -> None:
        self.client.v1.entitlements.features.update(feature_id, params=params)

    def create_product(self, spec: ProductSpec) -> None:
        params: Any = {"name": spec.name, "metadata": {PRODUCT_KEY: spec.lookup_key}}
        self.product_ids[spec.lookup_key] = self.client.v1.products.create(params=params).id

    def update_product(self, product_id: str, params: Any) -> None:
        self.client.v1.products.update(product_id, params=params)

    def create_price(self, product: ProductSpec, price: PriceSpec, transfer: bool) -> None:
        params: Any = {
            "product": self.product_ids[product.lookup_key],
            "unit_amount": price.amount,
            "currency": price.currency,
            "recurring": {"interval": price.interval, "interval_count": price.interval_count},
            "lookup_key": price.lookup_key,
            "transfer_lookup_key": transfer,
        }
        self.client.v1.prices.create(params=params)

    def update_price(self, price_id: str, params: Any) -> None:
        self.client.v1.prices.update(price_id, params=params)

    def attach(self, product_key: str, feature_key: str) -> None:
        params: Any = {"entitlement_feature": self.feature_ids[feature_key]}
        self.client.v1.products.features.create(self.product_ids[product_key], params=params)

    def detach(self, product_id: str, attachment_id: str) -> None:
        self.client.v1.products.features.delete(product_id, attachment_id)


def plan(catalog: Catalog, current: Current, archive_missing: bool = False) -> tuple[list[Step], list[str]]:
    """The steps that bring Stripe in line with ``catalog``, and notes on what is kept."""
    steps = [
        *_feature_steps(catalog, current),
        *_product_steps(catalog, current),
        *_price_steps(catalog, current),
        *_attach_steps(catalog, current),
    ]
    extras = list(_extra_steps(catalog, current))
    if archive_missing:
        return steps + extras, []
    notes = [f"{step.change.kind} {step.change.key} is not in the file: kept" for step in extras]
    return steps, notes


def apply(client: stripe.StripeClient, steps: list[Step], current: Current, done: Callable[[Change], None]) -> None:
    applier = Applier(client, current)
    for step in steps:
        applier.run(step)
        done(step.change)


def _feature_steps(catalog: Catalog, current: Current) -> Iterator[Step]:
    for spec in catalog.features:
        found = current.features.get(spec.lookup_key)
        if found is None:
            change = Change("feature", "create", spec.lookup_key, f"name {spec.name!r}")
            yield Step(change, "create_feature", (spec.lookup_key, spec.name))
        elif changes := _differences(found, {"name": spec.name, "active": True}):
            change = Change("feature", "update", spec.lookup_key, _described(found, changes))
            yield Step(change, "update_feature", (found["id"], changes))


def _product_steps(catalog: Catalog, current: Current) -> Iterator[Step]:
    for spec in catalog.products:
        found = current.products.get(spec.lookup_key)
        if found is None:
            yield Step(Change("product", "create", spec.lookup_key, f"name {spec.name!r}"), "create_product", (spec,))
        elif changes := _differences(found, {"name": spec.name, "active": True}):
            change = Change("product", "update", spec.lookup_key, _described(found, changes))
            yield Step(change, "update_product", (found["id"], changes))


def _price_steps(catalog: Catalog, current: Current) -> Iterator[Step]:
    for product, spec in catalog.prices():
        found = current.prices.get(spec.lookup_key)
        product_id = _id_of(current.products.get(product.lookup_key))
        wanted = f"{_shown_terms(_terms(spec))} on product {product.lookup_key}"
        if found is None:
            yield Step(Change("price", "create", spec.lookup_key, wanted), "create_price", (product, spec, False))
        elif _price_terms(found) != _terms(spec) or found.get("product") != product_id:
            detail = f"{_shown_terms(_price_terms(found))} -> {wanted} (the old price stays for its subscriptions)"
            yield Step(Change("price", "replace", spec.lookup_key, detail), "create_price", (product, spec, True))
        elif not found.get("active"):
            change = Change("price", "update", spec.lookup_key, "active False -> True")
            yield Step(change, "update_price", (found["id"], {"active": True}))


def _attach_steps(catalog: Catalog, current: Current) -> Iterator[Step]:
    for product in catalog.products:
        attached = current.attached.get(_id_of(current.products.get(product.lookup_key)) or "", {})
        for key in product.features:
            if _id_of(current.features.get(key)) not in attached:
                change = Change("feature", "attach", key, f"to product {product.lookup_key}")
                yield Step(change, "attach", (product.lookup_key, key))


def _extra_steps(catalog: Catalog, current: Current) -> Iterator[Step]:
    """What Stripe holds that the file does not name: detach, then archive."""
    yield from _detach_steps(catalog, current)
    price_keys = {price.lookup_key for _, price in catalog.prices()}
    managed = {product["id"] for product in current.products.values()}
    stale = [p for key, p in current.prices.items() if key not in price_keys and p.get("product") in managed]
    for price in stale + _replaced_prices(catalog, current) + current.unkeyed_prices:
        if price.get("active"):
            label = price["id"] if price in stale else f"{price['id']} (replaced or without a lookup key)"
            yield Step(Change("price", "archive", label), "update_price", (price["id"], {"active": False}))
    product_keys = {product.lookup_key for product in catalog.products}
    for key, found in current.products.items():
        if key not in product_keys and found.get("active"):
            yield Step(Change("product", "archive", key), "update_product", (found["id"], {"active": False}))
    feature_keys = {feature.lookup_key for feature in catalog.features}
    for key, found in current.features.items():
        if key not in feature_keys and found.get("active"):
            yield Step(Change("feature", "archive", key), "update_feature", (found["id"], {"active": False}))


def _replaced_prices(catalog: Catalog, current: Current) -> list[dict]:
    """Prices whose lookup key a new price takes over in this run: the file no longer names their terms."""
    replaced = []
    for product, spec in catalog.prices():
        found = current.prices.get(spec.lookup_key)
        product_id = _id_of(current.products.get(product.lookup_key))
        if found and (_price_terms(found) != _terms(spec) or found.get("product") != product_id):
            replaced.append(found)
    return replaced


def _detach_steps(catalog: Catalog, current: Current) -> Iterator[Step]:
    keys = {feature["id"]: key for key, feature in current.features.items()}
    for product in catalog.products:
        product_id = _id_of(current.products.get(product.lookup_key))
        for feature_id, attachment_id in current.attached.get(product_id or "", {}).items():
            if keys.get(feature_id) not in product.features:
                change = Change(
                    "feature", "detach", keys.get(feature_id, feature_id), f"from product {product.lookup_key}"
                )
                yield Step(change, "detach", (product_id, attachment_id))


def _id_of(found: dict | None) -> str | None:
    return found["id"] if found else None


def _terms(spec: PriceSpec) -> tuple:
    return (spec.amount, spec.currency, spec.interval, spec.interval_count)


def _price_terms(price: dict) -> tuple:
    recurring = price.get("recurring") or {}
    return (price.get("unit_amount"), price.get("currency"), recurring.get("interval"), recurring.get("interval_count"))


def _shown_terms(terms: tuple) -> str:
    amount, currency, interval, count = terms
    every = interval if count == 1 else f"{count} {interval}s"
    return f"{amount} {currency} per {every}"


def _differences(found: dict, wanted: dict) -> dict:
    return {key: value for key, value in wanted.items() if found.get(key) != value}


def _described(found: dict, changes: dict) -> str:
    return ", ".join(f"{key} {found.get(key)!r} -> {value!r}" for key, value in changes.items())
