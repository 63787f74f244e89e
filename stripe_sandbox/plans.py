"""Seed products and prices from a TOML file."""

import tomllib
from pathlib import Path

from . import ids, objects
from .store import Store

DEFAULT_PLANS = Path(__file__).with_name("plans.toml")
REQUIRED_KEYS = ("lookup_key", "name", "amount")


def load(path: Path | str | None = None) -> list[dict]:
    """The ``[[plans]]`` entries, checked; ``ValueError`` names what is wrong."""
    with open(path or DEFAULT_PLANS, "rb") as handle:
        entries = tomllib.load(handle).get("plans", [])
    if not entries:
        raise ValueError(f"{path or DEFAULT_PLANS}: no [[plans]] entries")
    for entry in entries:
        absent = [k for k in REQUIRED_KEYS if k not in entry]
        if absent:
            raise ValueError(f"plan {entry!r} lacks {', '.join(absent)}")
    return entries


def seed(store: Store, entries: list[dict]) -> None:
    now = store.clock.now()
    for entry in entries:
        key = entry["lookup_key"]
        product_id = entry.get("product_id") or ids.seeded_id("prod", key)
        price_id = entry.get("price_id") or ids.seeded_id("price", key)
        store.add("products", objects.product(product_id, entry["name"], now, price_id))
        store.add("prices", objects.price(price_id, product_id, entry, now))
