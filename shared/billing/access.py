"""Who has access: the one place that turns subscription state into a yes or no.

- ``active`` and ``trialing`` grant access, including while a cancellation is
  pending at period end: the customer paid for the period.
- ``past_due`` grants access only within ``ACCESS_PAST_DUE_GRACE_DAYS`` of the
  start of the unpaid period (0, the default, means no grace).
- ``paused``, ``incomplete``, ``incomplete_expired``, ``unpaid`` and
  ``canceled`` do not.
- A scheduled end (``cancel_at``) that has passed ends access even if the
  webhook that flips the status has not arrived yet.

Also which subscription is the customer's (``primary_subscription``), whether
it still exists for them (``is_live``) and when a scheduled end takes effect
(``cancellation_date``): the facts Checkout, the portal and the page act on.
The page's words for them are the web's (portal_service/presentation.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from shared.infra.models import Subscription

GRANTING_STATUSES = frozenset({"active", "trialing"})


def grants_access(sub: Subscription, now: datetime, past_due_grace_days: int = 0) -> bool:
    if sub.cancel_at is not None and sub.cancel_at <= now:
        return False
    if sub.status in GRANTING_STATUSES:
        return True
    if sub.status == "past_due" and past_due_grace_days > 0:
        started = sub.current_period_start or sub.current_period_end
        return started is not None and now < started + timedelta(days=past_due_grace_days)
    return False


def has_access(subs: Iterable[Subscription], now: datetime, past_due_grace_days: int = 0) -> bool:
    return any(grants_access(sub, now, past_due_grace_days) for sub in subs)


def primary_subscription(
    subs: Iterable[Subscription], now: datetime, past_due_grace_days: int = 0
) -> Subscription | None:
    """The subscription to show: one that grants access first, then the newest."""
    known = [sub for sub in subs if sub.status is not None]
    if not known:
        return None

    def rank(sub: Subscription):
        granting = grants_access(sub, now, past_due_grace_days)
        return (granting, sub.status != "canceled", sub.created or datetime.min)

    return max(known, key=rank)


def cancellation_date(sub: Subscription) -> datetime | None:
    """When a scheduled cancellation takes effect, if one is scheduled."""
    if sub.status == "canceled":
        return None
    if sub.cancel_at:
        return sub.cancel_at
    return sub.current_period_end if sub.cancel_at_period_end else None


LIVE_EXCLUDED = frozenset({"canceled", "incomplete_expired"})


def is_live(sub: Subscription | None) -> bool:
    """A subscription that still exists for the customer: one more checkout would double it."""
    return sub is not None and sub.status is not None and sub.status not in LIVE_EXCLUDED
