"""The billing status of one user, as the API and the CLI report it."""

from __future__ import annotations

from datetime import datetime

from shared.billing.access import grants_access, has_access, primary_subscription
from shared.infra.models import Subscription, User
from shared.infra.timeutil import isoformat, utcnow


def subscriptions_of(user: User) -> list[Subscription]:
    if not user.stripe_customer_id:
        return []
    return list(Subscription.select().where(Subscription.customer_id == user.stripe_customer_id))


def billing_status(user: User, past_due_grace_days: int = 0, now: datetime | None = None) -> dict:
    now = now or utcnow()
    subs = subscriptions_of(user)
    primary = primary_subscription(subs, now, past_due_grace_days)
    return {
        "user_id": user.id,
        "email": user.email,
        "stripe_customer_id": user.stripe_customer_id,
        "has_access": has_access(subs, now, past_due_grace_days),
        "subscription": _subscription_json(primary, now, past_due_grace_days) if primary else None,
    }


def _subscription_json(sub: Subscription, now: datetime, grace: int) -> dict:
    return {
        "id": sub.id,
        "status": sub.status,
        "price_id": sub.price_id,
        "product_id": sub.product_id,
        "quantity": sub.quantity,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "cancel_at": isoformat(sub.cancel_at),
        "canceled_at": isoformat(sub.canceled_at),
        "current_period_end": isoformat(sub.current_period_end),
        "trial_end": isoformat(sub.trial_end),
        "grants_access": grants_access(sub, now, grace),
        "latest_invoice_status": sub.latest_invoice_status,
    }
