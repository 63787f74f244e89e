"""Applying events to the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import stripe

from shared.accounts.users import create_user
from shared.infra.models import StripeEvent, Subscription, User
from shared.infra.timeutil import from_epoch
from shared.sync.apply import DUPLICATE, EventApplier
from shared.sync.inbox import Envelope
from tests.settings_helpers import TEST_PASSWORDS
from tests.stripe_fixtures import body_of, checkout_session, event, invoice, subscription

UNREACHABLE_STRIPE = stripe.StripeClient(
    "sk_test_x", base_addresses={"api": "http://127.0.0.1:9"}, max_network_retries=0
)


def envelope(evt: dict) -> Envelope:
    return Envelope(evt["id"], body_of(evt).decode(), time.time(), "1-0")


@pytest.fixture
def applier(db):
    return EventApplier(UNREACHABLE_STRIPE)


def apply(applier, *events):
    return {r.event_id: r for r in applier.apply_batch([envelope(e) for e in events])}


def row(sub_id) -> Subscription:
    return Subscription.get_by_id(sub_id)


def ledger(event_id) -> StripeEvent:
    return StripeEvent.get_by_id(event_id)


def test_subscription_created_stores_every_field(applier):
    sub = subscription(
        status="trialing", trial_end=1_700_500_000, quantity=3, cancel_at=1_702_592_000, cancel_at_period_end=True
    )
    evt = event("customer.subscription.created", sub, created=1_700_000_010)
    results = apply(applier, evt)
    assert results[evt["id"]].outcome == "applied"
    stored = row(sub["id"])
    assert (stored.customer_id, stored.status, stored.price_id, stored.product_id, stored.quantity) == (
        "cus_T1",
        "trialing",
        "price_basic",
        "prod_basic",
        3,
    )
    assert stored.current_period_end == from_epoch(1_702_592_000)  # read from the item
    assert stored.trial_end == from_epoch(1_700_500_000)
    assert stored.cancel_at_period_end is True and stored.cancel_at == from_epoch(1_702_592_000)
    entry = ledger(evt["id"])
    assert (entry.outcome, entry.type, entry.created, entry.attempts) == ("applied", evt["type"], 1_700_000_010, 1)


def test_redelivered_event_is_applied_once(applier):
    sub = subscription()
    evt = event("customer.subscription.created", sub, created=100)
    apply(applier, evt)
    newer = event("customer.subscription.updated", {**sub, "status": "past_due"}, created=200)
    apply(applier, newer)
    results = apply(applier, evt, evt)  # a redelivery, twice in one batch
    assert results[evt["id"]].outcome == DUPLICATE
    assert row(sub["id"]).status == "past_due"
    assert ledger(evt["id"]).attempts == 1


def test_older_event_arriving_late_does_not_overwrite_newer_state(applier):
    sub = subscription(status="active")
    canceled = {**sub, "status": "canceled", "canceled_at": 300}
    later = event("customer.subscription.deleted", canceled, created=300)
    earlier = event("customer.subscription.updated", sub, created=200)
    apply(applier, later)
    results = apply(applier, earlier)
    assert results[earlier["id"]].outcome == "ignored"
    assert ledger(earlier["id"]).note == "older than the stored state"
    assert row(sub["id"]).status == "canceled"


def test_reordered_events_in_one_batch_end_in_newest_state(applier):
    sub = subscription(status="incomplete")
    events = [
        event("customer.subscription.updated", {**sub, "status": "past_due"}, created=30),
        event("customer.subscription.created", sub, created=10),
        event("customer.subscription.updated", {**sub, "status": "active"}, created=20),
    ]
    apply(applier, *events)
    assert row(sub["id"]).status == "past_due"


def test_same_second_tie_needs_stripe_and_fails_visibly_when_it_is_unreachable(applier):
    sub = subscription(status="incomplete")
    created = event("customer.subscription.created", sub, created=500)
    updated = event("customer.subscription.updated", {**sub, "status": "active"}, created=500)
    apply(applier, created)
    results = apply(applier, updated)
    assert results[updated["id"]].outcome == "failed"
    assert "could not fetch" in results[updated["id"]].error
    assert ledger(updated["id"]).outcome == "failed"
    assert row(sub["id"]).status == "incomplete"  # unchanged, and retried later by RQ


def test_checkout_links_the_user_named_by_client_reference_id(applier):
    user = create_user("ada@example.com", "correct horse", TEST_PASSWORDS)
    session = checkout_session(customer="cus_ADA", client_reference_id=str(user.id), email="other@example.com")
    evt = event("checkout.session.completed", session)
    assert apply(applier, evt)[evt["id"]].outcome == "applied"
    assert User.get_by_id(user.id).stripe_customer_id == "cus_ADA"


def test_checkout_falls_back_to_the_customer_email(applier):
    user = create_user("grace@example.com", "correct horse", TEST_PASSWORDS)
    evt = event("checkout.session.completed", checkout_session(customer="cus_G", email="Grace@Example.com"))
    apply(applier, evt)
    assert User.get_by_id(user.id).stripe_customer_id == "cus_G"


def test_checkout_for_an_unknown_user_fails_visibly_and_changes_nothing(applier):
    create_user("known@example.com", "correct horse", TEST_PASSWORDS)
    evt = event(
        "checkout.session.completed",
        checkout_session(customer="cus_X", client_reference_id="999", email="stranger@example.com"),
    )
    result = apply(applier, evt)[evt["id"]]
    assert result.outcome == "failed"
    assert "names no known user" in result.error
    assert ledger(evt["id"]).outcome == "failed"
    assert User.select().where(User.stripe_customer_id.is_null(False)).count() == 0


def test_checkout_whose_customer_is_another_users_fails_visibly_and_changes_nothing(applier):
    owner = create_user("owner@example.com", "correct horse", TEST_PASSWORDS)
    User.update(stripe_customer_id="cus_TAKEN").where(User.id == owner.id).execute()
    payer = create_user("payer@example.com", "correct horse", TEST_PASSWORDS)
    evt = event("checkout.session.completed", checkout_session(customer="cus_TAKEN", client_reference_id=str(payer.id)))
    result = apply(applier, evt)[evt["id"]]
    assert result.outcome == "failed"
    assert f"customer cus_TAKEN is already linked to user {owner.id}; user {payer.id} left unlinked" in result.error
    assert ledger(evt["id"]).outcome == "failed"
    assert User.get_by_id(owner.id).stripe_customer_id == "cus_TAKEN"
    assert User.get_by_id(payer.id).stripe_customer_id is None


def test_async_payment_events_link_the_customer_too(applier):
    user = create_user("async@example.com", "correct horse", TEST_PASSWORDS)
    for kind in ("checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"):
        evt = event(kind, checkout_session(customer="cus_ASYNC", client_reference_id=str(user.id)))
        assert apply(applier, evt)[evt["id"]].outcome == "applied"
    assert User.get_by_id(user.id).stripe_customer_id == "cus_ASYNC"


def test_invoice_events_record_the_latest_payment_outcome(applier):
    sub = subscription()
    apply(applier, event("customer.subscription.created", sub, created=100))
    failed = event("invoice.payment_failed", invoice(subscription_id=sub["id"], status="open"), created=300)
    paid = event("invoice.paid", invoice(subscription_id=sub["id"]), created=200)
    apply(applier, failed)
    assert apply(applier, paid)[paid["id"]].outcome == "ignored"  # older than the failure
    assert row(sub["id"]).latest_invoice_status == "payment_failed"
    assert row(sub["id"]).status == "active"  # status comes from subscription events only


def test_invoice_without_subscription_is_ignored(applier):
    inv = invoice(subscription_id=None)
    evt = event("invoice.paid", inv)
    assert apply(applier, evt)[evt["id"]].outcome == "ignored"


def test_customer_deleted_unlinks_the_user_and_ends_subscriptions(applier):
    user = create_user("gone@example.com", "correct horse", TEST_PASSWORDS)
    User.update(stripe_customer_id="cus_GONE").where(User.id == user.id).execute()
    sub = subscription(customer="cus_GONE")
    apply(applier, event("customer.subscription.created", sub, created=100))
    evt = event("customer.deleted", {"id": "cus_GONE", "object": "customer", "deleted": True}, created=200)
    assert apply(applier, evt)[evt["id"]].outcome == "applied"
    assert User.get_by_id(user.id).stripe_customer_id is None
    assert row(sub["id"]).status == "canceled"


def test_unhandled_types_are_recorded_as_ignored(applier):
    evt = event("product.created", {"id": "prod_1", "object": "product"})
    assert apply(applier, evt)[evt["id"]].outcome == "ignored"
    assert ledger(evt["id"]).note == "event type not handled"


def test_one_bad_event_does_not_undo_its_neighbours(applier):
    good = subscription()
    bad = subscription()
    del bad["status"]
    good_evt = event("customer.subscription.created", good, created=100)
    bad_evt = event("customer.subscription.created", bad, created=100)
    results = apply(applier, bad_evt, good_evt)
    assert results[good_evt["id"]].outcome == "applied"
    assert results[bad_evt["id"]].outcome == "failed"
    assert "data.object.status must be" in results[bad_evt["id"]].error
    assert row(good["id"]).status == "active"
    assert Subscription.get_or_none(Subscription.id == bad["id"]) is None  # rolled back, placeholder too


def test_body_that_is_not_an_event_fails_and_is_recorded(applier):
    results = applier.apply_batch([Envelope("evt_broken", "{not json", time.time(), "1-0")])
    assert results[0].outcome == "failed"
    assert ledger("evt_broken").error.startswith("event body is not JSON")


def test_failed_event_applies_when_delivered_again_after_the_cause_is_fixed(applier):
    evt = event("checkout.session.completed", checkout_session(customer="cus_LATE", email="late@example.com"))
    assert apply(applier, evt)[evt["id"]].outcome == "failed"
    create_user("late@example.com", "correct horse", TEST_PASSWORDS)
    assert apply(applier, evt)[evt["id"]].outcome == "applied"
    entry = ledger(evt["id"])
    assert (entry.outcome, entry.error, entry.attempts) == ("applied", None, 2)
