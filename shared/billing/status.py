"""The billing status of a user, as the APIs and the CLI report it.

``billing_status`` answers the signed-in user's page; ``access_answers`` answers
the host app's service API for many users in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from peewee import JOIN, fn

from shared.billing.access import grants_access, has_access, primary_subscription
from shared.billing.entitlements import entitlements_by_customer
from shared.infra.db import database, execute_compiled, is_postgres
from shared.infra.models import ANSWERED_SUBSCRIPTION_COLUMNS, Entitlement, Subscription, User
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
    for external_id, (user, subs) in _users_with_subscriptions(list(answers)).items():
        answers[external_id] = access_answer(user, subs, now, past_due_grace_days)
    return answers


def access_answer(user: User, subs: list[Subscription], now: datetime, grace: int) -> dict:
    """``user`` as users_from_rows reads it: with its ``entitlements``."""
    primary = primary_subscription(subs, now, grace)
    return {
        "external_id": user.external_id,
        "email": user.email,
        "has_access": has_access(subs, now, grace),
        "stripe_customer_id": user.stripe_customer_id,
        "subscription": subscription_json(primary, now, grace) if primary else None,
        "entitlements": getattr(user, "entitlements", []),
        "version": user.access_version,
    }


USER_COLUMNS = (User.id, User.external_id, User.email, User.stripe_customer_id, User.access_version)
SUBSCRIPTION_COLUMNS = tuple(Subscription._meta.fields[name] for name in ANSWERED_SUBSCRIPTION_COLUMNS)


def entitlement_keys():
    """The customer's entitlement lookup keys as one JSON array, a column of the user's answer row:
    a correlated subquery, so an access answer stays one round trip."""
    aggregate = fn.json_agg if is_postgres() else fn.json_group_array
    where = Entitlement.customer_id == User.stripe_customer_id
    return Entitlement.select(aggregate(Entitlement.lookup_key)).where(where)


def _answers_query(external_ids: list[str]):
    return (
        User.select(*USER_COLUMNS, entitlement_keys(), *SUBSCRIPTION_COLUMNS)
        .join(Subscription, JOIN.LEFT_OUTER, on=(Subscription.customer_id == User.stripe_customer_id))
        .where(User.external_id.in_(external_ids))
    )


def _one_answer_query():
    return _answers_query(["?"])  # the one id is a parameter of the compiled text


def _users_with_subscriptions(external_ids: list[str]) -> dict[str, tuple[User, list[Subscription]]]:
    """Each user found, by external id, with its subscriptions: one LEFT JOIN.

    The single id, the host app's hot path, runs SQL compiled once (shared.infra.db.execute_compiled).
    """
    if not external_ids:
        return {}
    if len(external_ids) == 1:
        cursor = execute_compiled(_one_answer_query, external_ids)
    else:
        cursor = database.execute_sql(*_answers_query(external_ids).sql())
    return users_from_rows(cursor.fetchall())


def users_from_rows(rows: list[tuple]) -> dict[str, tuple[User, list[Subscription]]]:
    """Rows of USER_COLUMNS, entitlement_keys() and SUBSCRIPTION_COLUMNS (LEFT JOINed: the user's or the
    subscription's columns may be all null), grouped by user; each user's ``entitlements`` are set, sorted."""
    found: dict[str, tuple[User, list[Subscription]]] = {}
    width = len(USER_COLUMNS)
    for row in rows:
        if row[0] is None:
            continue
        if row[1] not in found:
            user = User(**dict(zip(USER_NAMES, row[:width], strict=True)))
            user.entitlements = _lookup_keys(row[width])  # type: ignore[attr-defined]  # the answer's, not a column
            found[row[1]] = (user, [])
        if row[width + 1] is not None:
            found[row[1]][1].append(_subscription_of(row[width + 1 :]))
    return found


def _lookup_keys(value) -> list[str]:
    """A JSON array as each backend returns it (psycopg2 parses json; SQLite gives text; none may be NULL)."""
    keys = orjson.loads(value) if isinstance(value, str | bytes) else value
    return sorted(keys or [])


USER_NAMES = tuple(column.name for column in USER_COLUMNS)


def _subscription_of(values: tuple) -> Subscription:
    """A row read with raw SQL, converted as peewee converts it (SQLite keeps times as text)."""
    return Subscription(
        **{field.name: field.python_value(value) for field, value in zip(SUBSCRIPTION_COLUMNS, values, strict=True)}
    )


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
