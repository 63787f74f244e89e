"""Who has access: the one place that turns subscription state into a yes or no.

- ``active`` and ``trialing`` grant access, including while a cancellation is
  pending at period end: the customer paid for the period.
- ``past_due`` grants access only within ``ACCESS_PAST_DUE_GRACE_DAYS`` of the
  start of the unpaid period (0, the default, means no grace).
- ``paused``, ``incomplete``, ``incomplete_expired``, ``unpaid`` and
  ``canceled`` do not.
- A scheduled end (``cancel_at``) that has passed ends access even if the
  webhook that flips the status has not arrived yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from shared.infra.models import Subscription

GRANTING_STATUSES = frozenset({"active", "trialing"})
STATUS_WORDS = {
    "active": "Active",
    "trialing": "Free trial",
    "past_due": "Payment overdue",
    "unpaid": "Unpaid",
    "paused": "Paused",
    "incomplete": "Awaiting first payment",
    "incomplete_expired": "Checkout expired",
    "canceled": "Canceled",
}


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


def describe_status(sub: Subscription) -> str:
    words = STATUS_WORDS.get(sub.status or "", (sub.status or "unknown").replace("_", " ").capitalize())
    if sub.cancel_at_period_end or (sub.cancel_at and sub.status != "canceled"):
        return f"{words}, cancellation scheduled"
    return words


def day(moment: datetime | None) -> str:
    """'5 January 2027' (UTC): no clock time, which would need the reader's zone."""
    return f"{moment.day} {moment:%B %Y}" if moment else ""


def cancellation_date(sub: Subscription) -> datetime | None:
    """When a scheduled cancellation takes effect, if one is scheduled."""
    if sub.status == "canceled":
        return None
    if sub.cancel_at:
        return sub.cancel_at
    return sub.current_period_end if sub.cancel_at_period_end else None


def describe_dates(sub: Subscription) -> list[str]:
    """The dates a customer asks about, in words: renewal or end, trial end."""
    lines = []
    if sub.status == "trialing" and sub.trial_end:
        lines.append(f"Free trial ends on {day(sub.trial_end)}")
    ends = cancellation_date(sub)
    if ends:
        lines.append(f"Cancels on {day(ends)}")
    elif sub.status == "canceled":
        ended = sub.ended_at or sub.canceled_at
        if ended:
            lines.append(f"Ended on {day(ended)}")
    elif sub.status in GRANTING_STATUSES and sub.current_period_end:
        lines.append(f"Renews on {day(sub.current_period_end)}")
    elif sub.status == "past_due":
        lines.append("The last payment failed: update your card to keep access")
    return lines


LIVE_EXCLUDED = frozenset({"canceled", "incomplete_expired"})


def is_live(sub: Subscription | None) -> bool:
    """A subscription that still exists for the customer: one more checkout would double it."""
    return sub is not None and sub.status is not None and sub.status not in LIVE_EXCLUDED
