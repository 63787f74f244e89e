"""Same-second events: settled by fetching from Stripe (the sandbox), once per burst."""

from __future__ import annotations

import time

from shared.infra.models import Subscription
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope
from tests.stripe_fixtures import body_of


def envelopes(events):
    return [Envelope(e["id"], body_of(e).decode(), time.time(), str(i)) for i, e in enumerate(events)]


def subscription_events(sb, sub_id):
    return [
        e
        for e in sb.sandbox.events()
        if e["type"].startswith("customer.subscription.") and e["data"]["object"]["id"] == sub_id
    ]


def test_checkout_created_and_updated_in_one_second_end_active_in_either_order(db, sandbox):
    made = sandbox.sandbox.create_subscription("tie@example.com", "basic")
    sub_id = made["subscription"]["id"]
    created, updated = subscription_events(sandbox, sub_id)
    assert created["created"] == updated["created"]  # the real trap: one second for both
    assert (created["data"]["object"]["status"], updated["data"]["object"]["status"]) == ("incomplete", "active")

    applier = EventApplier(sandbox.stripe_client())
    applier.apply_batch(envelopes([updated]))
    applier.apply_batch(envelopes([created]))  # older, same second: a created-only guard would apply it
    assert Subscription.get_by_id(sub_id).status == "active"
    assert applier.fetches == 1


def test_a_burst_for_one_subscription_costs_one_fetch(db, sandbox):
    client = sandbox.stripe_client()
    sub_id = sandbox.sandbox.create_subscription("burst@example.com", "basic")["subscription"]["id"]
    for flag in (True, False, True, False, True):
        client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": flag})
    burst = subscription_events(sandbox, sub_id)
    assert len({e["created"] for e in burst}) < len(burst)  # several share a second

    applier = EventApplier(client)
    applier.apply_batch(envelopes(burst + burst))  # and each delivered twice
    assert applier.fetches == 1
    stored = Subscription.get_by_id(sub_id)
    assert (stored.status, stored.cancel_at_period_end) == ("active", True)
