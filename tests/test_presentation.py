"""The billing page's words for a subscription's state and a plan's price."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from portal_service.presentation import describe_dates, describe_status, price_words, status_words
from shared.billing.access import grants_access
from shared.billing.plans import Plan
from shared.billing.summary import BillingSummary
from shared.infra.models import Subscription

NOW = datetime(2026, 11, 25, 12, 0, 0)


def sub(status, **fields) -> Subscription:
    return Subscription(id="sub_1", customer_id="cus_1", status=status, **fields)


def shown(subscription: Subscription) -> BillingSummary:
    return BillingSummary(True, False, subscription, grants_access(subscription, NOW))


@pytest.mark.parametrize(
    "subscription, words",
    [
        (sub("active"), "Active"),
        (sub("trialing"), "Free trial"),
        (sub("incomplete_expired"), "Checkout expired"),
        (sub("some_new_status"), "Some new status"),
        (sub("active", cancel_at_period_end=True, cancel_at=NOW + timedelta(days=3)), "Active, cancellation scheduled"),
        (sub("active", cancel_at=NOW - timedelta(seconds=1)), "Ended"),  # before the webhook that says so
        (sub("canceled", cancel_at=NOW - timedelta(days=1)), "Canceled"),
    ],
)
def test_status_in_words(subscription, words):
    assert status_words(shown(subscription)) == words


def test_no_subscription_has_no_status_words():
    assert status_words(BillingSummary(False, False)) == ""
    assert describe_status(sub(None)) == "Unknown"


def test_dates_in_words_for_each_state():
    period_end = datetime(2027, 1, 5, 8, 0, 0)
    assert describe_dates(sub("active", current_period_end=period_end)) == ["Renews on 5 January 2027"]
    assert describe_dates(sub("active", current_period_end=period_end, cancel_at_period_end=True)) == [
        "Cancels on 5 January 2027"
    ]
    assert describe_dates(sub("active", cancel_at=datetime(2027, 2, 1))) == ["Cancels on 1 February 2027"]
    assert describe_dates(
        sub("trialing", trial_end=datetime(2026, 12, 9), current_period_end=datetime(2026, 12, 9))
    ) == ["Free trial ends on 9 December 2026", "Renews on 9 December 2026"]
    assert describe_dates(sub("canceled", ended_at=datetime(2026, 11, 1), cancel_at_period_end=True)) == [
        "Ended on 1 November 2026"
    ]
    assert describe_dates(sub("past_due")) == ["The last payment failed: update your card to keep access"]
    assert describe_dates(sub("incomplete")) == []


@pytest.mark.parametrize(
    "amount, currency, interval, words",
    [
        (900, "usd", "month", "$9.00 per month"),
        (123456, "eur", "year", "€1,234.56 per year"),
        (500, "chf", None, "5.00 CHF"),
        (None, "usd", "month", ""),
    ],
)
def test_price_in_words(amount, currency, interval, words):
    assert price_words(Plan("basic", "price_1", "Basic", amount, currency, interval)) == words
