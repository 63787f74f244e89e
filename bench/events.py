"""Stripe events shaped like real deliveries (a subscription event is ~3 KB).

The objects carry the fields Stripe sends in the current API version, most of
them null, because size and parse cost are what a benchmark must get right.
"""

from __future__ import annotations

import json

API_VERSION = "2026-10-28.endive"
PERIOD = 30 * 24 * 3600


def price(plan: str) -> dict:
    return {
        "id": f"price_{plan}",
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1_690_000_000,
        "currency": "usd",
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": plan,
        "metadata": {},
        "nickname": plan.title(),
        "product": f"prod_{plan}",
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": 900 if plan == "basic" else 2900,
        "unit_amount_decimal": "900",
    }


def legacy_plan(plan: str) -> dict:
    """The ``plan`` mirror of the price that Stripe still sends on items."""
    return {
        "id": f"price_{plan}",
        "object": "plan",
        "active": True,
        "amount": 900,
        "amount_decimal": "900",
        "billing_scheme": "per_unit",
        "created": 1_690_000_000,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": plan.title(),
        "product": f"prod_{plan}",
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def subscription(sub_id: str, customer: str, created: int, status="active", plan="basic", quantity=1) -> dict:
    start = created - created % PERIOD
    item = {
        "id": "si_" + sub_id[4:],
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": start + PERIOD,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "plan": legacy_plan(plan),
        "price": price(plan),
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": start,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": "pm_" + customer[4:],
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": "in_" + sub_id[4:],
        "livemode": False,
        "metadata": {"plan": plan},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "on_subscription",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def invoice(invoice_id: str, customer: str, sub_id: str, created: int) -> dict:
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": 900,
        "amount_paid": 900,
        "amount_remaining": 0,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": customer,
        "customer_email": None,
        "hosted_invoice_url": None,
        "livemode": False,
        "number": None,
        "paid_out_of_band": False,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": sub_id},
        },
        "status": "paid",
        "subtotal": 900,
        "total": 900,
    }


def checkout_session(session_id: str, customer: str, user_id: int, email: str, sub_id: str) -> dict:
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": customer,
        "client_reference_id": str(user_id),
        "customer_email": email,
        "customer_details": {"email": email, "name": None},
        "subscription": sub_id,
        "amount_total": 900,
        "currency": "usd",
        "livemode": False,
        "metadata": {},
    }


def event(event_id: str, event_type: str, obj: dict, created: int, previous: dict | None = None) -> dict:
    data = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_" + event_id[4:], "idempotency_key": None},
        "type": event_type,
    }


def body_of(evt: dict) -> bytes:
    return json.dumps(evt, separators=(",", ":")).encode()
