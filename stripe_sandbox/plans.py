"""Seed the catalogue from a TOML file: the project's catalog file, or the older ``[[plans]]`` list.

The default is the catalog the docs show (docs/catalog.example.toml), in the
format ``portal-service catalog apply`` reads (shared.billing.catalog_file),
so ``catalog apply`` of that file against a fresh sandbox changes nothing.
Ids derive from lookup keys (``prod_sbx_<key>``, ``price_sbx_<key>``,
``feat_sbx_<key>``) so they stay the same across sandbox restarts.
"""

import tomllib
from pathlib import Path

from shared.billing.catalog_file import Catalog, parse

from . import entitlements, ids, objects
from .store import Store

DEFAULT_PLANS = Path(__file__).resolve().parent.parent / "docs" / "catalog.example.toml"
REQUIRED_KEYS = ("lookup_key", "name", "amount")
PRODUCT_KEY = "lookup_key"  # products carry their lookup key in metadata, as catalog apply reads it


def load(path: Path | str | None = None) -> Catalog | list[dict]:
    """The catalog, or the ``[[plans]]`` entries, checked; ``ValueError`` names what is wrong."""
    with open(path or DEFAULT_PLANS, "rb") as handle:
        data = tomllib.load(handle)
    if "plans" not in data:
        return parse(data)
    entries = data["plans"]
    if not entries:
        raise ValueError(f"{path or DEFAULT_PLANS}: no [[plans]] entries")
    for entry in entries:
        absent = [k for k in REQUIRED_KEYS if k not in entry]
        if absent:
            raise ValueError(f"plan {entry!r} lacks {', '.join(absent)}")
    return entries


def seed(store: Store, loaded: Catalog | list[dict]) -> None:
    if isinstance(loaded, Catalog):
        seed_catalog(store, loaded)
        return
    now = store.clock.now()
    for entry in loaded:
        key = entry["lookup_key"]
        product_id = entry.get("product_id") or ids.seeded_id("prod", key)
        price_id = entry.get("price_id") or ids.seeded_id("price", key)
        store.add("products", objects.product(product_id, entry["name"], now, price_id))
        store.add("prices", objects.price(price_id, product_id, entry, now))


def seed_catalog(store: Store, catalog: Catalog) -> None:
    now = store.clock.now()
    for feature in catalog.features:
        entitlements.create_feature(
            store, feature.lookup_key, feature.name, {}, ids.seeded_id("feat", feature.lookup_key)
        )
    for spec in catalog.products:
        product_id = ids.seeded_id("prod", spec.lookup_key)
        first = ids.seeded_id("price", spec.prices[0].lookup_key) if spec.prices else None
        product = objects.product(product_id, spec.name, now, first)
        product["metadata"] = {PRODUCT_KEY: spec.lookup_key}
        store.add("products", product)
        for price in spec.prices:
            terms = {**vars(price), "amount": price.amount}
            store.add("prices", objects.price(ids.seeded_id("price", price.lookup_key), product_id, terms, now))
        for key in spec.features:
            attachment_id = ids.seeded_id("prodft", f"{spec.lookup_key}_{key}")
            entitlements.attach(store, product, ids.seeded_id("feat", key), attachment_id)
