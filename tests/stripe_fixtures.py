"""Stripe objects and signed events in the current API shape, written for these tests."""

from __future__ import annotations

import itertools
import json
import time

from stripe_sandbox.signing import signature_header

API_VERSION = "2026-10-28.endive"
# Tests that only care about the order of events write `created=100, 200, ...`;
# the worker refuses a `created` before 2010 (shared.sync.event_shape), so those
# small numbers are read as seconds after this moment (2020-09-13), which
# keeps their order and keeps them before any fetch from Stripe.
ORDER_BASE = 1_600_000_000
sign = signature_header  # Stripe's scheme, as the sandbox signs its deliveries
_counter = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_T{next(_counter):06d}{int(time.time() * 1000) % 100000:05d}"


def subscription(
    sub_id=None,
    customer="cus_T1",
    status="active",
    price="price_basic",
    product="prod_basic",
    created=1_700_000_000,
    period_start=1_700_000_000,
    period_end=1_702_592_000,
    cancel_at_period_end=False,
    cancel_at=None,
    canceled_at=None,
    trial_end=None,
    quantity=1,
) -> dict:
    sub_id = sub_id or new_id("sub")
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": cancel_at,
        "canceled_at": canceled_at,
        "ended_at": canceled_at if status == "canceled" else None,
        "created": created,
        "start_date": created,
        "trial_start": None,
        "trial_end": trial_end,
        "livemode": False,
        "metadata": {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": new_id("si"),
                    "object": "subscription_item",
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                    "quantity": quantity,
                    "subscription": sub_id,
                    "price": {
                        "id": price,
                        "object": "price",
                        "product": product,
                        "unit_amount": 900,
                        "currency": "usd",
                        "recurring": {"interval": "month", "interval_count": 1},
                    },
                }
            ],
            "has_more": False,
        },
    }


def checkout_session(customer="cus_T1", client_reference_id=None, email=None, subscription_id=None) -> dict:
    return {
        "id": new_id("cs"),
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": customer,
        "client_reference_id": client_reference_id,
        "customer_email": email,
        "customer_details": {"email": email},
        "subscription": subscription_id,
    }


def invoice(customer="cus_T1", subscription_id=None, status="paid") -> dict:
    return {
        "id": new_id("in"),
        "object": "invoice",
        "customer": customer,
        "status": status,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription_id, "metadata": {}},
        },
    }


def event(event_type: str, obj: dict, created: int | None = None, event_id: str | None = None) -> dict:
    if created is None:
        created = int(time.time())
    elif created < 1_000_000_000:
        created += ORDER_BASE
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def body_of(evt: dict) -> bytes:
    return json.dumps(evt, separators=(",", ":")).encode()


def entitlement_summary(customer="cus_T1", lookup_keys=(), has_more=False) -> dict:
    """An ``entitlements.active_entitlement_summary`` listing features named after their lookup keys."""
    data = [
        {
            "id": f"ent_T{index:04d}",
            "object": "entitlements.active_entitlement",
            "feature": f"feat_{key}",
            "livemode": False,
            "lookup_key": key,
        }
        for index, key in enumerate(lookup_keys)
    ]
    return {
        "object": "entitlements.active_entitlement_summary",
        "customer": customer,
        "entitlements": {
            "object": "list",
            "data": data,
            "has_more": has_more,
            "url": "/v1/entitlements/active_entitlements",
        },
        "livemode": False,
    }
