"""The billing page's words: a subscription's status and dates, a plan's price.

Template filters (registered by the dashboard blueprint); the facts they word
come from shared.billing (the access rule and the page's summary).
"""

from __future__ import annotations

from datetime import datetime

from shared.billing.access import GRANTING_STATUSES, cancellation_date
from shared.billing.plans import Plan
from shared.billing.summary import BillingSummary
from shared.infra.models import Subscription

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
CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


def describe_status(sub: Subscription) -> str:
    words = STATUS_WORDS.get(sub.status or "", (sub.status or "unknown").replace("_", " ").capitalize())
    if sub.cancel_at_period_end or (sub.cancel_at and sub.status != "canceled"):
        return f"{words}, cancellation scheduled"
    return words


def status_words(summary: BillingSummary) -> str:
    """The shown subscription's status, as the page's Status line says it."""
    sub = summary.subscription
    if sub is None:
        return ""
    if sub.status in GRANTING_STATUSES and not summary.subscription_grants:
        return "Ended"  # a scheduled end passed before the webhook that says so
    return describe_status(sub)


def day(moment: datetime | None) -> str:
    """'5 January 2027' (UTC): no clock time, which would need the reader's zone."""
    return f"{moment.day} {moment:%B %Y}" if moment else ""


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


def price_words(plan: Plan) -> str:
    """'$9.00 per month'."""
    if plan.unit_amount is None:
        return ""
    symbol = CURRENCY_SYMBOLS.get(plan.currency)
    amount = f"{plan.unit_amount / 100:,.2f}"
    money = f"{symbol}{amount}" if symbol else f"{amount} {plan.currency.upper()}"
    return f"{money} per {plan.interval}" if plan.interval else money


TEMPLATE_FILTERS = (status_words, describe_dates, price_words)
