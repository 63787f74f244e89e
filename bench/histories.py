"""Real event histories, made by the offline Stripe sandbox doing real things.

Checkout, cancel at period end, reactivate, plan switch, failed payment,
renewal and cancel now, each emitting the events Stripe would, in Stripe's
order, with real same-second ties. The expected final state of a
subscription is what the sandbox holds at the end (``expected_rows``).
The order property test and the fault suite (bench/chaos) both use them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from shared.sync.stripe_objects import subscription_columns

OPERATIONS = ["cancel_at_period_end", "reactivate", "switch_plan", "fail_payment", "renew", "cancel_now"]
# The Subscription columns an event history decides (shared.sync.stripe_objects.subscription_columns).
COMPARED = [
    "status",
    "price_id",
    "product_id",
    "quantity",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "current_period_end",
    "trial_end",
    "customer_id",
]
RENEWAL_SECONDS = 32 * 86400


def perform(sb, client, sub_id: str, operation: str) -> None:
    """One operation on one subscription (``renew`` moves the whole sandbox's clock)."""
    sub = client.v1.subscriptions.retrieve(sub_id)
    if operation == "cancel_at_period_end":
        client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    elif operation == "reactivate":
        client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    elif operation == "switch_plan":
        item = sub["items"]["data"][0]
        target = "price_sbx_pro" if item["price"]["id"] == "price_sbx_basic" else "price_sbx_basic"
        client.v1.subscriptions.update(
            sub_id, params={"items": [{"id": item["id"], "price": target}], "proration_behavior": "none"}
        )
    elif operation == "fail_payment":
        sb.sandbox.fail_payment(sub_id)
    elif operation == "renew":
        sb.sandbox.advance_clock(RENEWAL_SECONDS)
    elif operation == "cancel_now":
        client.v1.subscriptions.cancel(sub_id)


def record_history(sb, customer_id: str | None, seen: dict[str, dict]) -> None:
    """Keep the events made so far (one customer's, or all when ``customer_id`` is None).

    Record as they are made: the sandbox forgets events older than 30
    sandbox days, and a renewal moves its clock a month.
    """
    for evt in sb.sandbox.events():
        if customer_id is None or customer_of(evt) == customer_id:
            seen.setdefault(evt["id"], evt)


def customer_of(evt: dict):
    obj = evt["data"]["object"]
    return obj["id"] if obj.get("object") == "customer" else obj.get("customer")


@dataclass(frozen=True)
class Histories:
    events: list[dict]  # every event the sandbox made, oldest first
    subscription_ids: list[str]
    users: list[tuple[int, str]]  # (id, email): the accounts the checkouts name


def make_histories(sb, subscriptions: int, rounds: int, seed: int) -> Histories:
    """``subscriptions`` paid checkouts, then ``rounds`` rounds of one random
    operation per live subscription, with one renewal of everyone between the
    first two rounds (so the clock moves one month, not one per subscription)."""
    rng = random.Random(seed)
    client = sb.stripe_client()
    users = [(n + 1, f"chaos{n + 1}@example.com") for n in range(subscriptions)]
    sub_ids = [
        sb.sandbox.create_subscription(email, "basic", client_reference_id=str(uid))["subscription"]["id"]
        for uid, email in users
    ]
    seen: dict[str, dict] = {}
    for round_number in range(rounds):
        record_history(sb, None, seen)
        if round_number == 1:
            perform(sb, client, sub_ids[0], "renew")
            record_history(sb, None, seen)
        for sub_id in sub_ids:
            if client.v1.subscriptions.retrieve(sub_id)["status"] != "canceled":
                perform(sb, client, sub_id, rng.choice([op for op in OPERATIONS if op != "renew"]))
    record_history(sb, None, seen)
    return Histories(sorted(seen.values(), key=lambda e: e["created"]), sub_ids, users)


def expected_rows(client, sub_ids: list[str]) -> dict[str, dict]:
    """The COMPARED columns each subscription must end with: Stripe's state now."""
    rows = {}
    for sub_id in sub_ids:
        columns = subscription_columns(client.v1.subscriptions.retrieve(sub_id).to_dict())
        rows[sub_id] = {name: columns[name] for name in COMPARED}
    return rows
