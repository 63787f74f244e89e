"""Entitlements: features, the features each product carries, and each customer's active set.

A customer is entitled to the active features of the products of its live
subscriptions (``active``, ``trialing``, ``past_due``). Whenever that set
changes (a subscription starts, switches price or ends; a feature is attached,
detached or archived) the sandbox sends
``entitlements.active_entitlement_summary.updated``, whose object holds only
the first page (10) of the new set with ``has_more``, as Stripe does: a
consumer must list the rest from ``GET /v1/entitlements/active_entitlements``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ids, objects
from .errors import invalid, missing

if TYPE_CHECKING:
    from .store import Store

GRANTING = frozenset({"active", "trialing", "past_due"})
SUMMARY_PAGE_SIZE = 10
LIST_URL = "/v1/entitlements/active_entitlements"
SUMMARY_EVENT = "entitlements.active_entitlement_summary.updated"


# -- features -------------------------------------------------------------------
def feature(feature_id: str, lookup_key: str, name: str, metadata: dict) -> dict:
    return {
        "id": feature_id,
        "object": "entitlements.feature",
        "active": True,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata,
        "name": name,
    }


def create_feature(store: Store, lookup_key: str, name: str, metadata: dict | None = None, feature_id=None) -> dict:
    if any(f["lookup_key"] == lookup_key for f in store.all("features")):
        raise invalid(f"A feature with the lookup_key '{lookup_key}' already exists.", "lookup_key")
    return store.add("features", feature(feature_id or ids.new_id("feat"), lookup_key, name, metadata or {}))


def update_feature(store: Store, feat: dict, params: dict) -> dict:
    from .customers import merge_metadata  # customers imports the store, which imports this module

    for key in ("name", "active"):
        if key in params:
            feat[key] = params[key]
    if "metadata" in params:
        feat["metadata"] = merge_metadata(feat["metadata"], params["metadata"])
    if "active" in params:
        refresh_all(store)
    return feat


# -- product features -------------------------------------------------------------
def attach(store: Store, product: dict, feature_id: str, attachment_id=None) -> dict:
    feat = store.get("features", feature_id, "entitlement_feature")
    if not feat["active"]:
        raise invalid(f"The feature '{feature_id}' is archived and cannot be attached.", "entitlement_feature")
    if any(pf["entitlement_feature"] == feature_id for pf in product_features(store, product["id"])):
        raise invalid(f"The feature '{feature_id}' is already attached to '{product['id']}'.", "entitlement_feature")
    attachment = {
        "id": attachment_id or ids.new_id("prodft"),
        "object": "product_feature",
        "entitlement_feature": feature_id,
        "livemode": False,
        "product": product["id"],  # kept for lookups; not in the API's view
    }
    store.add("product_features", attachment)
    refresh_all(store)
    return attachment


def detach(store: Store, attachment: dict) -> dict:
    del store.collections["product_features"][attachment["id"]]
    refresh_all(store)
    return {"id": attachment["id"], "object": "product_feature", "deleted": True}


def product_features(store: Store, product_id: str) -> list[dict]:
    """The product's attachments, oldest first."""
    return [pf for pf in store.collections["product_features"].values() if pf["product"] == product_id]


def product_feature_view(store: Store, attachment: dict) -> dict:
    return {
        "id": attachment["id"],
        "object": "product_feature",
        "entitlement_feature": dict(store.get("features", attachment["entitlement_feature"])),
        "livemode": False,
    }


def owned_attachment(store: Store, product_id: str, attachment_id: str) -> dict:
    attachment = store.get("product_features", attachment_id)
    if attachment["product"] != product_id:
        raise missing("product_feature", attachment_id)
    return attachment


# -- active entitlements --------------------------------------------------------------
def entitled_features(store: Store, customer_id: str) -> list[dict]:
    """The active features of the customer's live subscriptions' products, each once."""
    products = [
        item["price"]["product"]
        for sub in store.collections["subscriptions"].values()
        if sub["customer"] == customer_id and sub["status"] in GRANTING
        for item in sub["items"]["data"]
    ]
    found: dict[str, dict] = {}
    for product_id in products:
        for attachment in product_features(store, product_id):
            feat = store.get("features", attachment["entitlement_feature"])
            if feat["active"]:
                found.setdefault(feat["id"], feat)
    return list(found.values())


def active_entitlements(store: Store, customer_id: str) -> list[dict]:
    """The customer's stored active entitlements, newest first (like every list)."""
    return [e for e in store.all("active_entitlements") if e["customer"] == customer_id]


def entitlement_view(entitlement: dict) -> dict:
    return {k: entitlement[k] for k in ("id", "object", "feature", "livemode", "lookup_key")}


def refresh(store: Store, customer_id: str, at: int | None = None) -> dict | None:
    """Bring the customer's active set up to date; the summary event if it changed."""
    current = {e["feature"]: e for e in active_entitlements(store, customer_id)}
    wanted = entitled_features(store, customer_id)
    if set(current) == {f["id"] for f in wanted}:
        return None
    collection = store.collections["active_entitlements"]
    for entitlement in current.values():
        del collection[entitlement["id"]]
    for feat in wanted:
        kept = current.get(feat["id"])
        store.add("active_entitlements", kept or _entitlement(customer_id, feat))
    return store.emit(SUMMARY_EVENT, summary(store, customer_id), at=at)


def refresh_all(store: Store) -> None:
    customers = {sub["customer"] for sub in store.collections["subscriptions"].values()}
    customers |= {e["customer"] for e in store.collections["active_entitlements"].values()}
    for customer_id in sorted(customers):
        refresh(store, customer_id)


def summary(store: Store, customer_id: str) -> dict:
    entitlements = active_entitlements(store, customer_id)
    first = [entitlement_view(e) for e in entitlements[:SUMMARY_PAGE_SIZE]]
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer_id,
        "entitlements": objects.list_object(first, LIST_URL, has_more=len(entitlements) > SUMMARY_PAGE_SIZE),
        "livemode": False,
    }


def _entitlement(customer_id: str, feat: dict) -> dict:
    return {
        "id": ids.new_id("ent"),
        "object": "entitlements.active_entitlement",
        "feature": feat["id"],
        "livemode": False,
        "lookup_key": feat["lookup_key"],
        "customer": customer_id,  # kept for lookups; not in the API's view
    }
