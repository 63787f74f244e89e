"""Thin notifications applied by the worker: the object fetched from Stripe (the sandbox), on both databases."""

from __future__ import annotations

import time

import pytest

from shared.accounts.users import create_user
from shared.infra.models import StripeEvent, Subscription, User
from shared.infra.stripe_client import build_stripe_client
from shared.sync.apply import FETCH_ALWAYS, EventApplier
from shared.sync.handlers import NO_CHANGE
from shared.sync.inbox import Envelope
from stripe_sandbox import thin
from tests.settings_helpers import TEST_PASSWORDS, make_settings
from tests.stripe_fixtures import body_of


def envelopes(bodies: list[dict]) -> list[Envelope]:
    return [Envelope(b["id"], body_of(b).decode(), time.time(), str(i)) for i, b in enumerate(bodies)]


def notifications(sb, sub_id: str | None = None, prefix: str = "customer.subscription.") -> list[dict]:
    """The thin notifications the sandbox's thin destination would send, oldest first."""
    return [
        thin.notification(e)
        for e in sb.sandbox.events()
        if e["type"].startswith(prefix) and (sub_id is None or e["data"]["object"]["id"] == sub_id)
    ]


def subscribe(sb, email="thin@example.com") -> str:
    return sb.sandbox.create_subscription(email, "basic")["subscription"]["id"]


def ledger(event_id: str) -> StripeEvent:
    return StripeEvent.get_by_id(event_id)


def test_a_thin_notification_stores_the_subscription_fetched_from_stripe(db, sandbox):
    sub_id = subscribe(sandbox)
    sandbox.stripe_client().v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    first = notifications(sandbox, sub_id)[0]  # "created": the object it names has changed twice since

    results = EventApplier(sandbox.stripe_client()).apply_batch(envelopes([first]))

    assert [r.outcome for r in results] == ["applied"]
    stored = Subscription.get_by_id(sub_id)
    assert (stored.status, stored.cancel_at_period_end) == ("active", True)  # the current state, not the first
    assert stored.fetched_at is not None
    assert ledger(first["id"]).type == "v1.customer.subscription.created"


def test_a_burst_of_notifications_costs_one_fetch_per_subscription(db, sandbox):
    client = sandbox.stripe_client()
    subs = [subscribe(sandbox, f"burst{i}@example.com") for i in range(3)]
    for sub_id in subs:
        for flag in (True, False, True):
            client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": flag})
    burst = notifications(sandbox)
    assert len(burst) == 3 * 5  # created, updated (paid), three updates

    applier = EventApplier(client)
    results = applier.apply_batch(envelopes(burst + burst))  # and each delivered twice

    assert applier.fetches == 3
    assert {r.outcome for r in results} == {"applied", "duplicate"}
    assert all(Subscription.get_by_id(s).cancel_at_period_end for s in subs)


def test_an_unhandled_thin_type_is_recorded_ignored_without_a_fetch(db, sandbox):
    body = {
        "id": "evt_thin_unhandled1",
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "created": "2026-12-05T05:35:22.123Z",
        "related_object": {"id": "mtr_1", "type": "billing.meter", "url": "/v1/billing/meters/mtr_1"},
    }
    applier = EventApplier(sandbox.stripe_client())
    [result] = applier.apply_batch(envelopes([body]))
    assert (result.outcome, applier.fetches) == ("ignored", 0)
    assert (ledger(body["id"]).outcome, ledger(body["id"]).note) == ("ignored", "event type not handled")


@pytest.mark.parametrize("thin_first", [True, False])
def test_a_snapshot_and_its_thin_twin_leave_one_row_and_the_ledger_names_the_no_op(db, sandbox, thin_first):
    sub_id = subscribe(sandbox)
    sandbox.stripe_client().v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    snapshot = sandbox.sandbox.events("customer.subscription.updated")[-1]
    twin = thin.notification(snapshot)
    order = [twin, snapshot] if thin_first else [snapshot, twin]
    applier = EventApplier(sandbox.stripe_client())

    for body in order:  # separate deliveries, as from two destinations
        assert [r.outcome for r in applier.apply_batch(envelopes([body]))] == ["applied"]

    stored = Subscription.get_by_id(sub_id)
    assert (stored.status, stored.cancel_at_period_end) == ("active", True)
    first, second = (ledger(b["id"]) for b in order)
    assert NO_CHANGE not in (first.note or "")
    assert NO_CHANGE in second.note


def test_thin_invoice_and_checkout_notifications_fetch_their_objects(db, sandbox):
    made = sandbox.sandbox.create_subscription("buyer@example.com", "basic")
    sandbox.sandbox.advance_clock(60)  # the failure a minute after the payment, not in its second
    sandbox.sandbox.fail_payment(made["subscription"]["id"])
    wanted = ("invoice.paid", "invoice.payment_failed", "checkout.session.completed", "customer.subscription.")
    bodies = [thin.notification(e) for e in sandbox.sandbox.events() if e["type"].startswith(wanted)]

    results = EventApplier(sandbox.stripe_client()).apply_batch(envelopes(bodies))

    outcomes = {r.event_type: r for r in results}
    assert outcomes["v1.invoice.payment_failed"].outcome == "applied"
    checkout = outcomes["v1.checkout.session.completed"]
    assert checkout.outcome == "failed" and "names no known user" in checkout.error  # fetched, then checked
    stored = Subscription.get_by_id(made["subscription"]["id"])
    assert stored.latest_invoice_status == "payment_failed"
    assert stored.status == "past_due"


def test_a_notification_whose_object_cannot_be_fetched_fails_alone(db, sandbox):
    sub_id = subscribe(sandbox)
    good = notifications(sandbox, sub_id)[-1]
    missing = {**good, "id": "evt_thin_missing1", "related_object": {**good["related_object"], "id": "sub_gone"}}

    results = {r.event_id: r for r in EventApplier(sandbox.stripe_client()).apply_batch(envelopes([missing, good]))}

    assert results[good["id"]].outcome == "applied"
    assert results[missing["id"]].outcome == "failed"
    assert "could not fetch sub_gone" in ledger(missing["id"]).error
    assert Subscription.get_or_none(Subscription.id == "sub_gone") is None


def test_fetch_mode_always_stores_the_current_state_even_for_an_old_snapshot(db, sandbox):
    sub_id = subscribe(sandbox)
    sandbox.stripe_client().v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    [created] = sandbox.sandbox.events("customer.subscription.created")

    ties = EventApplier(sandbox.stripe_client())
    always = EventApplier(sandbox.stripe_client(), fetch_mode=FETCH_ALWAYS)
    ties.apply_batch(envelopes([created]))
    assert Subscription.get_by_id(sub_id).status == "incomplete"  # trusted as sent
    Subscription.delete().execute()
    always.apply_batch(envelopes([{**created, "id": "evt_again_created"}]))
    assert (ties.fetches, always.fetches) == (0, 1)
    stored = Subscription.get_by_id(sub_id)
    assert (stored.status, stored.cancel_at_period_end) == ("active", True)


def test_stripes_429s_during_a_burst_are_waited_out_and_no_event_fails(db, sandbox, redis_url):
    subs = [subscribe(sandbox, f"rate{i}@example.com") for i in range(6)]
    settings = make_settings("sqlite://", redis_url, stripe_api_base=sandbox.api_base, stripe_rate_limit=1000)
    client = build_stripe_client(settings)  # the service's own client, allowed far more than the sandbox
    sandbox.sandbox.rate_limit.configure(2)

    results = EventApplier(client).apply_batch(envelopes(notifications(sandbox)))

    assert {r.outcome for r in results} == {"applied"}
    assert all(Subscription.get_by_id(s).status == "active" for s in subs)
    throttled = sandbox.sandbox.rate_limit.state()["throttled"]
    assert throttled > 0 and client._requestor._client.rate_limited == throttled  # type: ignore[attr-defined]


def test_a_thin_customer_deleted_unlinks_its_user_without_a_fetch(db, sandbox):
    made = sandbox.sandbox.create_subscription("gone@example.com", "basic")
    customer_id = made["customer"]["id"]
    user = create_user("gone@example.com", "correct horse battery", TEST_PASSWORDS)
    User.update(stripe_customer_id=customer_id).where(User.id == user.id).execute()
    sandbox.stripe_client().v1.customers.delete(customer_id)
    [deleted] = [thin.notification(e) for e in sandbox.sandbox.events("customer.deleted")]

    applier = EventApplier(sandbox.stripe_client())
    [result] = applier.apply_batch(envelopes([deleted]))

    assert (result.outcome, result.customer_id, applier.fetches) == ("applied", customer_id, 0)
    assert User.get_by_id(user.id).stripe_customer_id is None
