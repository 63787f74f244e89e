"""The billing status of a user, as the APIs and the CLI report it.

``billing_status`` answers the signed-in user's page; ``access_answers`` answers
the host app's service API for many users in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from peewee import JOIN

from shared.billing.access import grants_access, has_access, primary_subscription
from shared.billing.entitlements import entitlements_by_customer
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
        "subscription": subscription_json(primary, now, past_due_grace_days) if primary else None,
        "entitlements": entitlements_by_customer([user.stripe_customer_id]).get(user.stripe_customer_id or "", []),
    }


def access_answers(
    external_ids: Sequence[str], past_due_grace_days: int = 0, now: datetime | None = None
) -> dict[str, dict | None]:
    """The access answer of each external id (None for an unknown one), in one round trip."""
    now = now or utcnow()
    answers: dict[str, dict | None] = dict.fromkeys(external_ids)
    found = _users_with_subscriptions(list(answers))
    features = entitlements_by_customer(user.stripe_customer_id for user, _ in found.values())
    for external_id, (user, subs) in found.items():
        entitled = features.get(user.stripe_customer_id or "", [])
        answers[external_id] = access_answer(user, subs, now, past_due_grace_days, entitled)
    return answers


def access_answer(
    user: User, subs: list[Subscription], now: datetime, grace: int, entitlements: list[str] | None = None
) -> dict:
    primary = primary_subscription(subs, now, grace)
    return {
        "external_id": user.external_id,
        "email": user.email,
        "has_access": has_access(subs, now, grace),
        "stripe_customer_id": user.stripe_customer_id,
        "subscription": subscription_json(primary, now, grace) if primary else None,
        "entitlements": entitlements or [],
        "version": user.access_version,
    }


def _users_with_subscriptions(external_ids: list[str]) -> dict[str, tuple[User, list[Subscription]]]:
    """Each user found, by external id, with its subscriptions: one LEFT JOIN."""
    if not external_ids:
        return {}
    query = (
        User.select(User, Subscription)
        .join(Subscription, JOIN.LEFT_OUTER, on=(Subscription.customer_id == User.stripe_customer_id), attr="sub")
        .where(User.external_id.in_(external_ids))
    )
    found: dict[str, tuple[User, list[Subscription]]] = {}
    for row in query:
        _, subs = found.setdefault(cast(str, row.external_id), (row, []))  # the WHERE matched it: not null
        sub: Subscription | None = row.sub  # type: ignore[attr-defined]  # the join's attr
        if sub is not None:
            subs.append(sub)
    return found


def subscription_json(sub: Subscription, now: datetime, grace: int) -> dict:
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
