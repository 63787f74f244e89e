"""Signed-looking events the worker could never apply, each with the message that names why.

Used twice: the web must refuse each with 400 (tests/test_event_shapes.py),
and the worker, reading it straight from Redis, must fail it alone
(tests/test_containment.py).
"""

from __future__ import annotations

import pytest

from tests.stripe_fixtures import checkout_session, entitlement_summary, event, invoice, subscription

BASES = {
    "subscription": lambda: event("customer.subscription.updated", subscription(), created=1_700_000_000),
    "invoice": lambda: event("invoice.paid", invoice(subscription_id="sub_X1"), created=1_700_000_000),
    "checkout": lambda: event("checkout.session.completed", checkout_session(customer="cus_C1")),
    "deleted": lambda: event("customer.deleted", {"id": "cus_D1", "object": "customer", "deleted": True}),
    "entitlements": lambda: event(
        "entitlements.active_entitlement_summary.updated", entitlement_summary("cus_E1", ["sso"]), created=1_700_000_000
    ),
}


def _set(path: str, value):
    """A change to the event: ``path`` is dotted, ``items.0`` indexes a list."""

    def change(evt: dict) -> dict:
        *parents, last = path.split(".")
        target = evt
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
        return evt

    return change


_DELETE = object()
OBJ = "data.object"
ITEM = "data.object.items.data.0"

ENTITLEMENT = "data.object.entitlements.data.0"

SHAPES = [
    pytest.param(
        "entitlements", _set(f"{OBJ}.customer", _DELETE), "data.object.customer must be", id="summary-no-customer"
    ),
    pytest.param(
        "entitlements",
        _set(f"{OBJ}.entitlements.has_more", "true"),
        "data.object.entitlements.has_more must be",
        id="summary-has-more-a-string",
    ),
    pytest.param(
        "entitlements",
        _set(f"{OBJ}.entitlements.data", [{"feature": "feat_x", "lookup_key": "k"}] * 101),
        "data.object.entitlements.data must be a list of at most 100",
        id="summary-101-entitlements",
    ),
    pytest.param(
        "entitlements",
        _set(f"{ENTITLEMENT}.lookup_key", "sso\x00"),
        "data.object.entitlements.data[0].lookup_key must be",
        id="summary-lookup-key-with-NUL",
    ),
    pytest.param(
        "entitlements",
        _set(f"{ENTITLEMENT}.feature", {"id": 5}),
        "data.object.entitlements.data[0].feature must be",
        id="summary-feature-object-with-int-id",
    ),
    # (base, change, the message's start), one per shape; the test id says what is wrong
    pytest.param("subscription", _set("id", "evt_bad\x00id"), "id must be a Stripe event id", id="event-id-with-NUL"),
    pytest.param(
        "subscription", _set("id", "evt_" + "a" * 300), "id must be a Stripe event id", id="event-id-too-long"
    ),
    pytest.param("subscription", _set("id", "evt_with space"), "id must be a Stripe event id", id="event-id-charset"),
    pytest.param("subscription", _set("created", 2**63), "created must be", id="created-2^63"),
    pytest.param("subscription", _set("created", 1_700_000_000.5), "created must be", id="created-float"),
    pytest.param("subscription", _set("created", "1700000000"), "created must be", id="created-string"),
    pytest.param("subscription", _set("created", True), "created must be", id="created-bool"),
    pytest.param("subscription", _set("created", 5), "created must be", id="created-1970"),
    pytest.param("subscription", _set("type", "x" * 200), "type must be", id="type-too-long"),
    pytest.param(
        "subscription", _set("type", "customer.subscription.updated\n"), "type must be", id="type-control-char"
    ),
    pytest.param("subscription", _set(OBJ, [1, 2]), "data.object must be an object", id="object-a-list"),
    pytest.param("subscription", _set("data", "x"), "data must be an object", id="data-a-string"),
    pytest.param(
        "subscription",
        _set(f"{OBJ}.id", 42),
        "data.object.id must be a Stripe subscription id",
        id="subscription-id-an-integer",
    ),
    pytest.param(
        "subscription",
        _set(f"{OBJ}.id", _DELETE),
        "data.object.id must be a Stripe subscription id",
        id="subscription-id-missing",
    ),
    pytest.param(
        "subscription", _set(f"{OBJ}.id", "sub_" + "a" * 300), "data.object.id must be", id="subscription-id-too-long"
    ),
    pytest.param("subscription", _set(f"{OBJ}.status", "x" * 40), "data.object.status must be", id="status-too-long"),
    pytest.param("subscription", _set(f"{OBJ}.status", "x" * 10_000), "data.object.status must be", id="status-10KB"),
    pytest.param(
        "subscription", _set(f"{OBJ}.status", "act\x00ive"), "data.object.status must be", id="status-with-NUL"
    ),
    pytest.param(
        "subscription",
        _set(f"{OBJ}.customer", ["cus_1"]),
        "data.object.customer must be a Stripe",
        id="customer-a-list",
    ),
    pytest.param(
        "subscription", _set(f"{OBJ}.customer", 7), "data.object.customer must be a Stripe", id="customer-an-int"
    ),
    pytest.param(
        "subscription",
        _set(f"{OBJ}.customer", {"id": 7}),
        "data.object.customer must be a Stripe",
        id="customer-object-with-int-id",
    ),
    pytest.param(
        "subscription",
        _set(f"{ITEM}.quantity", 2**40),
        "data.object.items.data[0].quantity must be",
        id="quantity-2^40",
    ),
    pytest.param(
        "subscription",
        _set(f"{ITEM}.quantity", "3"),
        "data.object.items.data[0].quantity must be",
        id="quantity-a-string",
    ),
    pytest.param(
        "subscription",
        _set(f"{ITEM}.price.id", "price_" + "x" * 300),
        "data.object.items.data[0].price.id must be",
        id="price-id-too-long",
    ),
    pytest.param(
        "subscription",
        _set(f"{ITEM}.price.product", "prod_\x00"),
        "data.object.items.data[0].price.product must be",
        id="product-id-with-NUL",
    ),
    pytest.param(
        "subscription",
        _set(f"{ITEM}.current_period_end", 2**40),
        "data.object.items.data[0].current_period_end must be",
        id="period-end-year-36812",
    ),
    pytest.param(
        "subscription",
        _set(f"{OBJ}.items.data", "not a list"),
        "data.object.items.data must be a list",
        id="items-data-not-a-list",
    ),
    pytest.param(
        "subscription",
        _set(f"{OBJ}.items.data", [5]),
        "data.object.items.data[0] must be an object",
        id="item-not-an-object",
    ),
    pytest.param(
        "subscription", _set(f"{OBJ}.trial_end", -1), "data.object.trial_end must be", id="trial-end-negative"
    ),
    pytest.param(
        "invoice",
        _set(f"{OBJ}.parent.subscription_details.subscription", 12),
        "data.object.parent.subscription_details.subscription must be",
        id="invoice-subscription-an-int",
    ),
    pytest.param(
        "invoice",
        _set(f"{OBJ}.id", "in_" + "x" * 300),
        "data.object.id must be a Stripe invoice id",
        id="invoice-id-too-long",
    ),
    pytest.param(
        "invoice", _set(f"{OBJ}.parent", "sub_X1"), "data.object.parent must be an object", id="invoice-parent-a-string"
    ),
    pytest.param(
        "checkout", _set(f"{OBJ}.customer_email", 5), "data.object.customer_email must be", id="checkout-email-an-int"
    ),
    pytest.param(
        "checkout",
        _set(f"{OBJ}.client_reference_id", "1\x002"),
        "data.object.client_reference_id must be",
        id="checkout-reference-with-NUL",
    ),
    pytest.param(
        "checkout",
        _set(f"{OBJ}.customer", ["cus_1"]),
        "data.object.customer must be a Stripe",
        id="checkout-customer-a-list",
    ),
    pytest.param(
        "deleted",
        _set(f"{OBJ}.id", _DELETE),
        "data.object.id must be a Stripe customer id",
        id="deleted-customer-without-id",
    ),
]


def hostile(base: str, change) -> dict:
    return change(BASES[base]())
