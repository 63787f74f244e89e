"""shared.sync.reconcile.reconcile: the worker's ordering rule applied to fetched objects."""

from __future__ import annotations

import pytest

from shared.infra.errors import EventError
from shared.infra.models import Subscription
from shared.sync import reconcile
from tests.ops_helpers import snapshot_db
from tests.stripe_fixtures import event, subscription
from tests.worker_helpers import drain, push

NOW = 1_800_000_000.0


def test_a_new_subscription_is_created_with_its_fetch_time(db):
    obj = subscription(customer="cus_S")
    result = reconcile.reconcile(obj, NOW)
    assert result.outcome == reconcile.CREATED
    row = Subscription.get_by_id(obj["id"])
    assert (row.status, row.customer_id, row.fetched_at, row.version_created) == ("active", "cus_S", NOW, 0)


def test_a_dry_run_reports_and_writes_nothing(db):
    obj = subscription()
    before = snapshot_db()
    assert reconcile.reconcile(obj, NOW, dry_run=True).outcome == reconcile.CREATED
    assert snapshot_db() == before


def test_a_changed_row_names_its_columns_and_unchanged_rows_stay(db):
    obj = subscription(status="active")
    reconcile.reconcile(obj, NOW)
    changed = reconcile.reconcile({**obj, "status": "past_due", "cancel_at_period_end": True}, NOW + 10)
    assert (changed.outcome, set(changed.fields)) == (reconcile.CHANGED, {"status", "cancel_at_period_end"})
    assert (
        reconcile.reconcile({**obj, "status": "past_due", "cancel_at_period_end": True}, NOW + 20).outcome
        == reconcile.UNCHANGED
    )


def test_an_older_fetch_never_overwrites_a_newer_one(db):
    obj = subscription(status="canceled")
    reconcile.reconcile(obj, NOW)
    before = snapshot_db()
    assert reconcile.reconcile({**obj, "status": "active"}, NOW - 60).outcome == reconcile.KEPT
    assert snapshot_db() == before


def test_events_older_than_the_fetch_are_then_ignored_by_the_worker(settings, db, redis_conn):
    """The same rule on both paths: after a sync, a late older event changes nothing."""
    obj = subscription(status="canceled")
    reconcile.reconcile(obj, NOW)
    push(redis_conn, event("customer.subscription.updated", {**obj, "status": "active"}, created=int(NOW) - 100))
    drain(settings, redis_conn)
    assert Subscription.get_by_id(obj["id"]).status == "canceled"


def test_a_fetch_within_the_clock_margin_of_the_stored_event_keeps_the_row(settings, db, redis_conn):
    obj = subscription(status="active")
    push(redis_conn, event("customer.subscription.updated", obj, created=int(NOW)))
    drain(settings, redis_conn)
    assert reconcile.reconcile({**obj, "status": "past_due"}, NOW + 1).outcome == reconcile.KEPT
    assert Subscription.get_by_id(obj["id"]).status == "active"
    assert reconcile.reconcile({**obj, "status": "past_due"}, NOW + 3).outcome == reconcile.CHANGED


@pytest.mark.parametrize("broken", [{"status": None}, {"customer": None}])
def test_an_object_without_status_or_customer_is_refused_and_nothing_is_written(db, broken):
    before = snapshot_db()
    with pytest.raises(EventError):
        reconcile.reconcile({**subscription(), **broken}, NOW)
    assert snapshot_db() == before
