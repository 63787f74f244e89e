"""The access rule: which subscription states grant access."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.billing.access import cancellation_date, grants_access, has_access, is_live, primary_subscription
from shared.infra.models import Subscription

NOW = datetime(2026, 11, 25, 12, 0, 0)


def sub(status, **fields) -> Subscription:
    return Subscription(id=fields.pop("id", "sub_1"), customer_id="cus_1", status=status, **fields)


@pytest.mark.parametrize("status", ["active", "trialing"])
def test_paying_statuses_grant_access(status):
    assert grants_access(sub(status), NOW)


@pytest.mark.parametrize("status", ["paused", "incomplete", "incomplete_expired", "unpaid", "canceled", None])
def test_other_statuses_do_not(status):
    assert not grants_access(sub(status), NOW)


def test_pending_cancellation_keeps_access_until_it_takes_effect():
    pending = sub("active", cancel_at_period_end=True, cancel_at=NOW + timedelta(days=3))
    assert grants_access(pending, NOW)
    assert not grants_access(pending, NOW + timedelta(days=3))  # even before the webhook flips status
    assert cancellation_date(pending) == NOW + timedelta(days=3)


def test_past_due_has_no_access_by_default_and_a_configured_grace_period():
    overdue = sub("past_due", current_period_start=NOW - timedelta(days=2))
    assert not grants_access(overdue, NOW)
    assert grants_access(overdue, NOW, past_due_grace_days=3)
    assert not grants_access(overdue, NOW, past_due_grace_days=2)


def test_any_granting_subscription_gives_access_and_is_the_one_shown():
    old = sub("canceled", id="sub_old", created=NOW - timedelta(days=90))
    current = sub("active", id="sub_new", created=NOW - timedelta(days=10))
    newest_unpaid = sub("incomplete", id="sub_retry", created=NOW)
    subs = [old, current, newest_unpaid]
    assert has_access(subs, NOW)
    assert primary_subscription(subs, NOW).id == "sub_new"
    assert primary_subscription([old], NOW).id == "sub_old"
    assert primary_subscription([], NOW) is None


def test_a_subscription_is_live_until_canceled_or_its_checkout_expired():
    assert is_live(sub("active")) and is_live(sub("past_due")) and is_live(sub("incomplete"))
    assert not is_live(sub("canceled")) and not is_live(sub("incomplete_expired"))
    assert not is_live(sub(None)) and not is_live(None)
