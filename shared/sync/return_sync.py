"""Bringing one user's subscriptions and entitlements up to date on return from Checkout or the portal.

The webhook may not have been applied yet when the browser returns, so the
billing page reads the user's state from Stripe itself. It writes it through
the worker's own path: ``handlers.link_checkout_session`` (what
``checkout.session.completed`` does) and ``reconcile.reconcile`` (the worker's
ordering rule), so a return racing with webhook deliveries never puts an
older state back.

A ``kept`` outcome means the stored state came from an event less than the
clock margin older than the fetch: we cannot tell which is newer, so the
stored state stays and the page asks to be read again a few seconds later.
"""

from __future__ import annotations

import re
import time

import redis
import stripe

from shared.infra.db import write_transaction
from shared.infra.models import User
from shared.sync import reconcile
from shared.sync.handlers import link_checkout_session
from shared.sync.stripe_objects import id_of

SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,200}$")
THROTTLE_KEY = "portal:return-sync:{user_id}"
THROTTLE_SECONDS = 2


class CheckoutNotFound(LookupError):
    """No such checkout session."""


class NotYourCheckout(PermissionError):
    """The checkout session belongs to someone else: nothing is read from it or changed."""


def settled(results: list[reconcile.Reconciled]) -> bool:
    """False when a fetch, too close to the last event to be trusted (shared.sync.ordering),
    differs from the stored state: which one is newer is known only a little later."""
    return all(result.outcome != reconcile.KEPT or not result.fields for result in results)


def sync_customer(client: stripe.StripeClient, user: User, clock=time.time) -> list[reconcile.Reconciled]:
    """Every subscription of the user's own customer, through the ordering rule."""
    if not user.stripe_customer_id:
        return []
    results = [
        reconcile.reconcile(obj, fetched_at)
        for obj, fetched_at in reconcile.fetch_subscriptions(client, user.stripe_customer_id, clock)
    ]
    return [*results, reconcile.reconcile_entitlements(client, user.stripe_customer_id, clock)]


def sync_checkout(
    client: stripe.StripeClient, user: User, session_id: str, clock=time.time
) -> list[reconcile.Reconciled]:
    """Link the user to the customer of their completed checkout and store its subscription.

    Raises CheckoutNotFound, or NotYourCheckout for a session that names
    neither this user (client_reference_id) nor this user's customer.
    """
    session, fetched_at = _retrieve(client, session_id, clock)
    reference = str(session.get("client_reference_id") or "")
    customer = id_of(session.get("customer"))
    mine_by_reference = reference == str(user.id)
    if not mine_by_reference and not (customer and customer == user.stripe_customer_id):
        raise NotYourCheckout(session_id)
    if session.get("status") != "complete":
        return []
    if mine_by_reference:
        with write_transaction():  # BEGIN IMMEDIATE on SQLite: the worker may be writing too
            link_checkout_session(session)
    subscription = session.get("subscription")
    if not isinstance(subscription, dict):
        return []
    results = [reconcile.reconcile(subscription, fetched_at)]
    if customer:
        results.append(reconcile.reconcile_entitlements(client, customer, clock))
    return results


def _retrieve(client: stripe.StripeClient, session_id: str, clock) -> tuple[dict, float]:
    if not SESSION_ID.match(session_id or ""):
        raise CheckoutNotFound(session_id)
    fetched_at = clock()
    try:
        session = client.v1.checkout.sessions.retrieve(session_id, params={"expand": ["subscription"]})
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise CheckoutNotFound(session_id) from None
        raise
    return session.to_dict(), fetched_at


def claim_sync(conn: redis.Redis, user_id: int, seconds: int = THROTTLE_SECONDS) -> bool:
    """At most one portal-return sync per user every few seconds: reloads cost no Stripe calls."""
    return bool(conn.set(THROTTLE_KEY.format(user_id=user_id), 1, nx=True, ex=seconds))
