"""Reading Stripe objects (as plain dicts) in the shape of the current API version."""

from __future__ import annotations

from typing import Any

from shared.infra.timeutil import from_epoch
from shared.sync.event_shape import check_subscription


def id_of(value: Any) -> str | None:
    """An id, whether Stripe sent it bare or expanded into an object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def first_item(subscription: dict) -> dict:
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items else {}


def subscription_columns(sub: dict) -> dict:
    """Columns of the Subscription table from a subscription object.

    Periods live on the subscription item in current API versions; older
    snapshots carried them on the subscription, so fall back to those. An
    object (an event's or one fetched from Stripe) whose values the columns
    cannot hold is refused first (UnfitEvent), before any SQL.
    """
    check_subscription(sub, "subscription")
    item = first_item(sub)
    price = item.get("price") or {}
    return {
        "customer_id": id_of(sub["customer"]),
        "status": sub["status"],
        "price_id": price.get("id"),
        "product_id": id_of(price.get("product")),
        "quantity": item.get("quantity"),
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "cancel_at": from_epoch(sub.get("cancel_at")),
        "canceled_at": from_epoch(sub.get("canceled_at")),
        "ended_at": from_epoch(sub.get("ended_at")),
        "current_period_start": from_epoch(item.get("current_period_start") or sub.get("current_period_start")),
        "current_period_end": from_epoch(item.get("current_period_end") or sub.get("current_period_end")),
        "trial_end": from_epoch(sub.get("trial_end")),
        "created": from_epoch(sub.get("created")),
    }


def invoice_subscription_id(invoice: dict) -> str | None:
    """The invoice's subscription: under ``parent`` now, top-level in old versions."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return id_of(details.get("subscription")) or id_of(invoice.get("subscription"))


def checkout_email(session: dict) -> str | None:
    details = session.get("customer_details") or {}
    email = details.get("email") or session.get("customer_email")
    return email.strip().lower() if email else None
