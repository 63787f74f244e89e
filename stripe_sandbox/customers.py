"""Customers and their cards."""

import copy

from . import billing, objects
from .errors import ApiError, missing
from .store import Store

SUCCESS_CARD_SUFFIX = "4242"
DECLINED_CARD = "4000000000000002"


class CardDeclined(Exception):
    """The test card number that Stripe always declines."""


def create(store: Store, email=None, name=None, metadata=None) -> dict:
    cust = objects.customer(store.clock.now(), email, name, metadata or {})
    store.add("customers", cust)
    store.emit("customer.created", cust)
    return cust


def update(store: Store, cust: dict, params: dict) -> dict:
    settings = params.get("invoice_settings") or {}
    if "default_payment_method" in settings:  # checked before anything changes
        pm_id = _own_payment_method(store, cust, settings["default_payment_method"])
    before = {k: copy.deepcopy(cust[k]) for k in ("email", "name", "metadata", "invoice_settings")}
    for key in ("email", "name"):
        if key in params:
            cust[key] = params[key] or None
    if "metadata" in params:
        cust["metadata"] = merge_metadata(cust["metadata"], params["metadata"])
    if "default_payment_method" in settings:
        cust["invoice_settings"]["default_payment_method"] = pm_id
    previous = {k: v for k, v in before.items() if cust[k] != v}
    if previous:
        store.emit("customer.updated", cust, previous)
    return cust


def _own_payment_method(store: Store, cust: dict, pm_id: str) -> str | None:
    if not pm_id:
        return None
    param = "invoice_settings[default_payment_method]"
    pm = store.collections["payment_methods"].get(pm_id)
    if pm is None:
        raise missing("PaymentMethod", pm_id, param)
    if pm["customer"] != cust["id"]:
        raise ApiError(
            f"The customer does not have a payment method with the ID {pm_id}. "
            "The payment method must be attached to the customer.",
            param=param,
        )
    return pm_id


def delete(store: Store, cust: dict) -> dict:
    """Cancel the customer's live subscriptions, then delete the customer."""
    now = store.clock.now()
    for sub in store.all("subscriptions"):
        if sub["customer"] == cust["id"] and sub["status"] != "canceled":
            billing.cancel_now(store, sub, now)
    del store.collections["customers"][cust["id"]]
    store.emit("customer.deleted", cust)
    return objects.deleted_customer(cust["id"])


def live_subscriptions(store: Store, cust: dict) -> dict:
    """The list ``expand[]=subscriptions`` adds to a customer (canceled left out)."""
    subs = [s for s in store.all("subscriptions") if s["customer"] == cust["id"] and s["status"] != "canceled"]
    return objects.list_object(subs, f"/v1/customers/{cust['id']}/subscriptions")


def merge_metadata(current: dict, changes: dict) -> dict:
    """Stripe's metadata update: keys merge, empty values delete, ``{}`` clears."""
    if not changes:
        return {}
    merged = dict(current)
    for key, value in changes.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def check_card(number: str) -> str:
    """The card's digits if it would be accepted; ``CardDeclined`` otherwise."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits == DECLINED_CARD:
        raise CardDeclined("Your card was declined.")
    if not digits.endswith(SUCCESS_CARD_SUFFIX) or len(digits) < 12:
        raise CardDeclined("Your card number is incorrect. Use 4242 4242 4242 4242.")
    return digits


def attach_card(store: Store, cust: dict, number: str) -> dict:
    """A card payment method made the customer's default, or ``CardDeclined``."""
    digits = check_card(number)
    pm = objects.card_payment_method(store.clock.now(), cust["id"], digits, cust["email"])
    store.add("payment_methods", pm)
    store.emit("payment_method.attached", pm)
    update(store, cust, {"invoice_settings": {"default_payment_method": pm["id"]}})
    return pm
