"""What each event type does to the database. Each handler returns an Effect.

Handlers run inside the batch transaction, after the batch's subscription
rows are locked (shared.sync.locked_rows) and its ledger rows claimed (shared.sync.apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from peewee import fn

from shared.infra.access_changes import bump_access_versions, record_changes
from shared.infra.db import database
from shared.infra.errors import CustomerOfAnotherUser, UnmatchedCheckout
from shared.infra.models import StripeEvent, Subscription, User
from shared.infra.parsing import plain_int
from shared.infra.timeutil import from_epoch, utcnow
from shared.sync import entitlements
from shared.sync.event_shape import ENTITLEMENT_SUMMARY_EVENT
from shared.sync.events import CHECKOUT_EVENTS, INVOICE_EVENTS, SUBSCRIPTION_EVENTS, Event
from shared.sync.locked_rows import LockedSubscriptions
from shared.sync.ordering import Decision, decide, fetch_is_current
from shared.sync.stripe_objects import checkout_email, id_of, subscription_columns

# A twin (the snapshot and the thin event of one change) or a repeat of what is
# stored: the ledger says so, so an operator sees which of two deliveries did nothing.
NO_CHANGE = "no change: the row already held this state"


@dataclass(frozen=True)
class Effect:
    outcome: str
    note: str | None = None


class Fetcher(Protocol):
    def get(self, subscription_id: str) -> tuple[dict, float]: ...


class EntitlementsFetcher(Protocol):
    def get(self, customer_id: str) -> tuple[entitlements.Entitled, float]: ...


def lock_batch(events: list[Event]) -> LockedSubscriptions:
    """Lock every subscription row the batch's events will touch."""
    wanted: dict[str, str] = {}
    for event in events:
        if (event.kind in SUBSCRIPTION_EVENTS or event.kind in INVOICE_EVENTS) and event.subscription_id:
            wanted.setdefault(event.subscription_id, event.customer_id or "")
    locked = LockedSubscriptions()
    locked.lock(wanted)
    return locked


def write_subscription(
    rows: LockedSubscriptions, row: Subscription, obj: dict, version_created: int, fetched_at: float | None
) -> bool:
    """Store a subscription object on its locked row (written back at commit); False when no column changed."""
    columns = subscription_columns(obj)
    changed = any(getattr(row, name) != value for name, value in columns.items())
    columns.update(version_created=version_created, updated_at=utcnow())
    if fetched_at is not None:
        columns["fetched_at"] = fetched_at
    rows.change(row, columns)
    return changed


def store_fetched(
    rows: LockedSubscriptions, row: Subscription, current: dict, fetched_at: float, seen_created: int = 0
) -> bool:
    """Store an object read from Stripe's API: authoritative as of ``fetched_at``.

    The tie-break fetch of the worker and ``sync`` both write through here;
    the version never goes back, and events created before the fetch are then
    recognised as stale (shared.sync.ordering).
    """
    return write_subscription(rows, row, current, max(seen_created, row.version_created), fetched_at)


def apply_subscription(event: Event, rows: LockedSubscriptions, fetcher: Fetcher) -> Effect:
    row = rows.locked(event.subscription_id)  # lock_batch locked every subscription event's row
    decision = decide(event.created, row.version_created, row.fetched_at)
    if decision is Decision.STALE:
        return Effect(StripeEvent.IGNORED, "older than the stored state")
    if decision is Decision.APPLY:
        changed = write_subscription(rows, row, event.obj, event.created, None)
        return Effect(StripeEvent.APPLIED, None if changed else NO_CHANGE)
    current, fetched_at = fetcher.get(row.id)
    changed = store_fetched(rows, row, current, fetched_at, event.created)
    return Effect(StripeEvent.APPLIED, _noted("same second as stored state: fetched from Stripe", changed))


def apply_fetched_subscription(event: Event, rows: LockedSubscriptions) -> Effect:
    """A subscription event whose object was fetched for it (a thin event, or STRIPE_FETCH_MODE=always).

    The fetch is the current state unless the row holds something surely
    newer (shared.sync.ordering.fetch_is_current); it is stored through the
    path ``sync`` uses.
    """
    row = rows.locked(event.subscription_id)
    fetched_at = event.fetched_at or 0.0
    if not fetch_is_current(row.version_created, row.fetched_at, fetched_at):
        return Effect(StripeEvent.IGNORED, "a newer state than this fetch is stored")
    changed = store_fetched(rows, row, event.obj, fetched_at, event.created)
    return Effect(StripeEvent.APPLIED, _noted("fetched from Stripe", changed))


def _noted(note: str, changed: bool) -> str:
    return note if changed else f"{note}; {NO_CHANGE}"


def record_invoice(event: Event, rows: LockedSubscriptions) -> Effect:
    row = rows.get(event.subscription_id)
    if row is None:
        return Effect(StripeEvent.IGNORED, "invoice without a subscription")
    if event.created < row.invoice_version_created:
        return Effect(StripeEvent.IGNORED, "older than the stored invoice state")
    status = "paid" if event.kind == "invoice.paid" else "payment_failed"
    rows.change(
        row,
        {
            "latest_invoice_id": event.obj.get("id"),
            "latest_invoice_status": status,
            "invoice_version_created": event.created,
            "updated_at": utcnow(),
        },
    )
    return Effect(StripeEvent.APPLIED)


def find_checkout_user(session: dict) -> User | None:
    user_id = plain_int(str(session.get("client_reference_id") or "").strip(), max_digits=18)  # fits a BIGINT
    if user_id is not None:
        user = User.get_or_none(User.id == user_id)
        if user is not None:
            return user
    email = checkout_email(session)
    return User.get_or_none(User.email == email) if email else None


def link_checkout(event: Event) -> Effect:
    """Remember the user's Stripe customer: the portal is opened with it."""
    return link_checkout_session(event.obj)


def link_checkout_session(session: dict) -> Effect:
    """Link the user a checkout session names to its customer.

    The worker calls it for ``checkout.session.completed``; the billing page
    calls it on return from Checkout, before the webhook may have arrived.
    """
    customer_id = id_of(session.get("customer"))
    if not customer_id:
        return Effect(StripeEvent.IGNORED, "checkout session without a customer")
    user = find_checkout_user(session)
    if user is None:
        raise UnmatchedCheckout(
            f"checkout {session.get('id')} names no known user "
            f"(client_reference_id={session.get('client_reference_id')!r})"
        )
    if user.stripe_customer_id == customer_id:
        return Effect(StripeEvent.APPLIED, "customer already linked")
    owner = User.alias()
    taken = fn.EXISTS(owner.select(owner.id).where(owner.stripe_customer_id == customer_id))
    linked = User.update(stripe_customer_id=customer_id, access_version=User.access_version + 1)
    if linked.where(User.id == user.id, ~taken).execute():
        record_changes(User.id == user.id)
    else:
        owner_id = User.select(User.id).where(User.stripe_customer_id == customer_id).scalar()
        raise CustomerOfAnotherUser(
            f"checkout {session.get('id')}: customer {customer_id} is already linked to user {owner_id}; "
            f"user {user.id} left unlinked"
        )
    return Effect(StripeEvent.APPLIED, f"linked user {user.id}")


def forget_customer(event: Event, rows: LockedSubscriptions) -> Effect:
    """A deleted customer: unlink its user; Stripe cancels its subscriptions."""
    customer_id = event.obj.get("id")
    bump_access_versions(User.stripe_customer_id == customer_id)  # the answer loses its customer
    User.update(stripe_customer_id=None).where(User.stripe_customer_id == customer_id).execute()
    live = Subscription.select(Subscription.id).where(
        Subscription.customer_id == customer_id, Subscription.status != "canceled"
    )
    ids = sorted(row.id for row in live)
    rows.lock(dict.fromkeys(ids, customer_id))  # sorted, like every lock
    for sub_id in ids:
        row = rows.locked(sub_id)
        if row.version_created <= event.created:
            rows.change(
                row,
                {
                    "status": "canceled",
                    "ended_at": from_epoch(event.created),
                    "version_created": event.created,
                    "updated_at": utcnow(),
                },
            )
    return Effect(StripeEvent.APPLIED, f"customer deleted; {len(ids)} subscription(s) ended")


def apply_entitlement_summary(event: Event, fetcher: EntitlementsFetcher) -> Effect:
    """Replace the customer's entitlement set, unless a newer one is stored.

    A summary that lists them all is stored as it is; one that says
    ``has_more``, or ties with the stored version, is settled with the full
    list read from Stripe before the transaction.
    """
    row = entitlements.lock_version(str(event.customer_id))  # the shape check made it a customer id
    decision = decide(event.created, row.version_created, row.fetched_at)
    if decision is Decision.STALE:
        return Effect(StripeEvent.IGNORED, "older than the stored entitlements")
    if decision is Decision.APPLY and not entitlements.summary_is_partial(event.obj):
        changed = entitlements.write(row, entitlements.from_summary(event.obj), event.created, None)
        return Effect(StripeEvent.APPLIED, None if changed else "entitlements unchanged")
    entitled, fetched_at = fetcher.get(row.customer_id)
    if row.fetched_at is not None and row.fetched_at > fetched_at:
        return Effect(StripeEvent.IGNORED, "a later read of the entitlements is stored")
    changed = entitlements.write(row, entitled, max(event.created, row.version_created), fetched_at)
    why = "more than one page" if decision is Decision.APPLY else "same second as stored state"
    return Effect(StripeEvent.APPLIED, f"{why}: read from Stripe" + ("" if changed else "; unchanged"))


def apply_fetched_entitlements(event: Event, fetcher: EntitlementsFetcher) -> Effect:
    """A thin summary: store the customer's current entitlements, read from Stripe before the transaction.

    Like a thin subscription event, the read is the current state unless the
    row holds something surely newer (shared.sync.ordering.fetch_is_current).
    """
    row = entitlements.lock_version(str(event.customer_id))  # resolved from the checked snapshot twin
    entitled, fetched_at = fetcher.get(row.customer_id)
    if not fetch_is_current(row.version_created, row.fetched_at, fetched_at):
        return Effect(StripeEvent.IGNORED, "a newer set of entitlements than this read is stored")
    changed = entitlements.write(row, entitled, max(event.created, row.version_created), fetched_at)
    return Effect(StripeEvent.APPLIED, _noted("read from Stripe", changed))


def handle(
    event: Event, rows: LockedSubscriptions, fetcher: Fetcher, entitlement_fetcher: EntitlementsFetcher
) -> Effect:
    """Apply one event. Subscription changes stay in ``rows`` until the batch
    flushes them, and are made last, after anything that can raise; handlers
    that write other tables do so in a savepoint of their own."""
    if event.kind in SUBSCRIPTION_EVENTS:
        if event.fetched_at is not None:
            return apply_fetched_subscription(event, rows)
        return apply_subscription(event, rows, fetcher)
    if event.kind in INVOICE_EVENTS:
        return record_invoice(event, rows)
    if event.kind in CHECKOUT_EVENTS:
        with database.atomic():
            return link_checkout(event)
    if event.kind == "customer.deleted":
        with database.atomic():
            return forget_customer(event, rows)
    if event.kind == ENTITLEMENT_SUMMARY_EVENT:
        with database.atomic():
            if event.thin:
                return apply_fetched_entitlements(event, entitlement_fetcher)
            return apply_entitlement_summary(event, entitlement_fetcher)
    return Effect(StripeEvent.IGNORED, "event type not handled")


HANDLED_TYPES = SUBSCRIPTION_EVENTS | INVOICE_EVENTS | CHECKOUT_EVENTS | {"customer.deleted", ENTITLEMENT_SUMMARY_EVENT}
