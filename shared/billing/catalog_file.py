"""The catalog file: products, their prices and features, declared in TOML.

::

    [[features]]
    lookup_key = "export"
    name = "Export to CSV"

    [[products]]
    lookup_key = "pro"
    name = "Pro"
    features = ["export"]

    [[products.prices]]
    lookup_key = "pro"
    amount = 2900          # in the currency's smallest unit
    currency = "usd"
    interval = "month"     # day, week, month or year

Everything is checked before anything is sent to Stripe: unknown keys (a
typo must not silently do nothing), duplicate lookup keys, features a product
names but the file does not declare. ``CatalogError`` names the first problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOKUP_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,80}")
NAME = re.compile(r"[^\x00-\x1f\x7f]{1,250}")
CURRENCY = re.compile(r"[a-z]{3}")
INTERVALS = ("day", "week", "month", "year")
MAX_AMOUNT = 99_999_999  # Stripe's limit for unit_amount


class CatalogError(ValueError):
    """The catalog file cannot be applied; the message names the field."""


@dataclass(frozen=True)
class FeatureSpec:
    lookup_key: str
    name: str


@dataclass(frozen=True)
class PriceSpec:
    lookup_key: str
    amount: int
    currency: str
    interval: str
    interval_count: int = 1


@dataclass(frozen=True)
class ProductSpec:
    lookup_key: str
    name: str
    prices: tuple[PriceSpec, ...]
    features: tuple[str, ...]  # feature lookup keys


@dataclass(frozen=True)
class Catalog:
    products: tuple[ProductSpec, ...]
    features: tuple[FeatureSpec, ...]

    def prices(self) -> list[tuple[ProductSpec, PriceSpec]]:
        return [(product, price) for product in self.products for price in product.prices]


def load(path: str | Path) -> Catalog:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise CatalogError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not TOML: {exc}") from None
    return parse(data)


def parse(data: dict[str, Any]) -> Catalog:
    _only(data, {"products", "features"}, "the file")
    features = tuple(_feature(entry, f"features[{i}]") for i, entry in enumerate(_tables(data, "features", "")))
    products = tuple(_product(entry, f"products[{i}]") for i, entry in enumerate(_tables(data, "products", "")))
    if not products:
        raise CatalogError("the file declares no [[products]]")
    catalog = Catalog(products, features)
    _check_unique([f.lookup_key for f in features], "feature")
    _check_unique([p.lookup_key for p in products], "product")
    _check_unique([price.lookup_key for _, price in catalog.prices()], "price")
    declared = {f.lookup_key for f in features}
    for product in products:
        for key in product.features:
            if key not in declared:
                raise CatalogError(f"product {product.lookup_key} names feature {key!r}, which [[features]] lacks")
    return catalog


def _feature(entry: dict, where: str) -> FeatureSpec:
    _only(entry, {"lookup_key", "name"}, where)
    return FeatureSpec(_text(entry, "lookup_key", LOOKUP_KEY, where), _text(entry, "name", NAME, where, 80))


def _product(entry: dict, where: str) -> ProductSpec:
    _only(entry, {"lookup_key", "name", "prices", "features"}, where)
    features = entry.get("features", [])
    if not isinstance(features, list) or not all(isinstance(k, str) for k in features):
        raise CatalogError(f"{where}.features must be a list of feature lookup keys")
    _check_unique(features, f"{where} feature")
    return ProductSpec(
        _text(entry, "lookup_key", LOOKUP_KEY, where),
        _text(entry, "name", NAME, where),
        tuple(_price(price, f"{where}.prices[{i}]") for i, price in enumerate(_tables(entry, "prices", where))),
        tuple(features),
    )


def _price(entry: dict, where: str) -> PriceSpec:
    _only(entry, {"lookup_key", "amount", "currency", "interval", "interval_count"}, where)
    interval = entry.get("interval", "month")
    if interval not in INTERVALS:
        raise CatalogError(f"{where}.interval must be one of {', '.join(INTERVALS)}")
    return PriceSpec(
        _text(entry, "lookup_key", LOOKUP_KEY, where),
        _whole(entry.get("amount"), f"{where}.amount", 0, MAX_AMOUNT),
        _text({"currency": entry.get("currency", "usd")}, "currency", CURRENCY, where),
        interval,
        _whole(entry.get("interval_count", 1), f"{where}.interval_count", 1, 365),
    )


def _tables(data: dict, key: str, where: str) -> list[dict]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise CatalogError(f"{where + '.' if where else ''}{key} must be a list of tables ([[{key}]])")
    return value


def _only(entry: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _text(entry: dict, key: str, pattern: re.Pattern, where: str, limit: int | None = None) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value) or (limit and len(value) > limit):
        shown = repr(value)[:60]
        raise CatalogError(
            f"{where}.{key} is {shown}: it must match {pattern.pattern}" + (f", up to {limit}" if limit else "")
        )
    return value


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:  # type(): a bool is not a number
        raise CatalogError(f"{where} must be a whole number from {low} to {high}")
    return value


def _check_unique(keys: list[str], kind: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise CatalogError(f"{kind} lookup key {key!r} is declared twice")
        seen.add(key)
