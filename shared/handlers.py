"""What each event type does to the database. Each handler returns an Effect.

Handlers run inside the batch transaction, after the event's target row is
locked and its ledger row claimed (see shared.apply).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.db import is_postgres
from shared.errors import UnmatchedCheckout
from shared.events import CHECKOUT_EVENTS, INVOICE_EVENTS, SUBSCRIPTION_EVENTS, Event
from shared.models import StripeEvent, Subscription, User
from shared.ordering import Decision, decide
from shared.stripe_objects import checkout_email, id_of, subscription_columns
from shared.timeutil import from_epoch, utcnow


@dataclass(frozen=True)
class Effect:
    outcome: str
    note: str | None = None


class Fetcher(Protocol):
    def get(self, subscription_id: str) -> tuple[dict, float]: ...


def lock_subscription(subscription_id: str, customer_id: str | None) -> Subscription:
    """The subscription's row, created empty if new, locked until commit.

    SQLite needs no row lock: the batch holds the database write lock.
    """
    Subscription.insert(id=subscription_id, customer_id=customer_id or "").on_conflict_ignore().execute()
    query = Subscription.select().where(Subscription.id == subscription_id)
    if is_postgres():
        query = query.for_update()
    return query.get()


def lock_target(event: Event) -> Subscription | None:
    sub_id = event.subscription_id
    if sub_id and (event.type in SUBSCRIPTION_EVENTS or event.type in INVOICE_EVENTS):
        return lock_subscription(sub_id, event.customer_id)
    return None


def write_subscription(sub_id: str, obj: dict, version_created: int, fetched_at: float | None) -> None:
    columns = subscription_columns(obj)
    columns.update(version_created=version_created, updated_at=utcnow())
    if fetched_at is not None:
        columns["fetched_at"] = fetched_at
    Subscription.update(**columns).where(Subscription.id == sub_id).execute()


def store_fetched(row: Subscription, current: dict, fetched_at: float, seen_created: int = 0) -> None:
    """Store an object read from Stripe's API: authoritative as of ``fetched_at``.

    The tie-break fetch of the worker and ``sync`` both write through here;
    the version never goes back, and events created before the fetch are then
    recognised as stale (shared.ordering).
    """
    write_subscription(row.id, current, max(seen_created, row.version_created), fetched_at)


def apply_subscription(event: Event, row: Subscription, fetcher: Fetcher) -> Effect:
    decision = decide(event.created, row.version_created, row.fetched_at)
    if decision is Decision.STALE:
        return Effect(StripeEvent.IGNORED, "older than the stored state")
    if decision is Decision.APPLY:
        write_subscription(row.id, event.obj, event.created, None)
        return Effect(StripeEvent.APPLIED)
    current, fetched_at = fetcher.get(row.id)
    store_fetched(row, current, fetched_at, event.created)
    return Effect(StripeEvent.APPLIED, "same second as stored state: fetched from Stripe")


def record_invoice(event: Event, row: Subscription | None) -> Effect:
    if row is None:
        return Effect(StripeEvent.IGNORED, "invoice without a subscription")
    if event.created < row.invoice_version_created:
        return Effect(StripeEvent.IGNORED, "older than the stored invoice state")
    status = "paid" if event.type == "invoice.paid" else "payment_failed"
    Subscription.update(
        latest_invoice_id=event.obj.get("id"),
        latest_invoice_status=status,
        invoice_version_created=event.created,
        updated_at=utcnow(),
    ).where(Subscription.id == row.id).execute()
    return Effect(StripeEvent.APPLIED)


def find_checkout_user(session: dict) -> User | None:
    reference = str(session.get("client_reference_id") or "").strip()
    if reference.isdigit():
        user = User.get_or_none(User.id == int(reference))
        if user is not None:
            return user
    email = checkout_email(session)
    return User.get_or_none(User.email == email) if email else None


def link_checkout(event: Event) -> Effect:
    """Remember the user's Stripe customer: the portal is opened with it."""
    customer_id = id_of(event.obj.get("customer"))
    if not customer_id:
        return Effect(StripeEvent.IGNORED, "checkout session without a customer")
    user = find_checkout_user(event.obj)
    if user is None:
        raise UnmatchedCheckout(
            f"checkout {event.obj.get('id')} names no known user "
            f"(client_reference_id={event.obj.get('client_reference_id')!r})"
        )
    if user.stripe_customer_id == customer_id:
        return Effect(StripeEvent.APPLIED, "customer already linked")
    User.update(stripe_customer_id=customer_id).where(User.id == user.id).execute()
    return Effect(StripeEvent.APPLIED, f"linked user {user.id}")


def forget_customer(event: Event) -> Effect:
    """A deleted customer: unlink its user; Stripe cancels its subscriptions."""
    customer_id = event.obj.get("id")
    User.update(stripe_customer_id=None).where(User.stripe_customer_id == customer_id).execute()
    live = Subscription.select(Subscription.id).where(
        Subscription.customer_id == customer_id, Subscription.status != "canceled"
    )
    ids = sorted(row.id for row in live)
    for sub_id in ids:  # sorted: the same lock order as subscription events
        row = lock_subscription(sub_id, customer_id)
        if row.version_created <= event.created:
            Subscription.update(
                status="canceled",
                ended_at=from_epoch(event.created),
                version_created=event.created,
                updated_at=utcnow(),
            ).where(Subscription.id == sub_id).execute()
    return Effect(StripeEvent.APPLIED, f"customer deleted; {len(ids)} subscription(s) ended")


def handle(event: Event, row: Subscription | None, fetcher: Fetcher) -> Effect:
    if event.type in SUBSCRIPTION_EVENTS:
        return apply_subscription(event, row, fetcher)
    if event.type in INVOICE_EVENTS:
        return record_invoice(event, row)
    if event.type in CHECKOUT_EVENTS:
        return link_checkout(event)
    if event.type == "customer.deleted":
        return forget_customer(event)
    return Effect(StripeEvent.IGNORED, "event type not handled")


HANDLED_TYPES = SUBSCRIPTION_EVENTS | INVOICE_EVENTS | CHECKOUT_EVENTS | {"customer.deleted"}
