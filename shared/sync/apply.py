"""Apply a batch of webhook deliveries to the database, idempotently.

One transaction per batch (cheap on both backends): the batch's subscription
rows and ledger rows are created and locked in bulk, in one sorted order
(no deadlocks between workers); each event then runs in a savepoint, so one
bad event does not undo its neighbours (subscription changes are made in
memory after validation, other writes in a savepoint); changed rows and
ledger outcomes are written back in bulk, in the same transaction. Fetches from
Stripe (the objects thin events point at, or for a thin entitlement summary its
v2 event, snapshot twin and the customer's entitlements; subscriptions under
STRIPE_FETCH_MODE=always, tie-breaks) happen before the write transaction,
coalesced to one per object per batch, so no lock is held across a network
call in the common case.

Whatever one event raises, that event alone fails (recorded in the ledger,
retried by RQ). An event is checked against shared.sync.event_shape before any
SQL; should the database still refuse a bulk statement, the whole batch
fails and worker.consumer splits it until the delivery at fault is alone
(``fail_alone``). Errors of the database itself (shared.infra.db) fail the batch,
which then stays pending.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import peewee
import stripe

from shared.infra.db import is_infrastructure_error, write_transaction
from shared.infra.errors import EventError
from shared.infra.models import CustomerEntitlements, StripeEvent, Subscription
from shared.sync import ledger
from shared.sync.entitlements import EntitlementFetcher, summary_is_partial
from shared.sync.event_shape import (
    ENTITLEMENT_SUMMARY_EVENT,
    OBJECT_CHECKS,
    THIN_VIA_SNAPSHOT,
    check_fetched_thin_event,
    shown,
    snapshot_customer,
)
from shared.sync.events import CHECKOUT_EVENTS, INVOICE_EVENTS, SUBSCRIPTION_EVENTS, Event
from shared.sync.handlers import handle, lock_batch
from shared.sync.inbox import Envelope
from shared.sync.ordering import Decision, decide

log = logging.getLogger(__name__)

DUPLICATE = "duplicate"  # a result only: the ledger already holds the event
# STRIPE_FETCH_MODE: trust snapshots and fetch on same-second ties, or fetch every subscription event.
FETCH_TIES, FETCH_ALWAYS = "ties", "always"
FETCH_MODES = (FETCH_TIES, FETCH_ALWAYS)
TRANSIENT_RETRIES = 3


@dataclass(frozen=True)
class Result:
    event_id: str
    event_type: str
    outcome: str
    customer_id: str | None = None
    note: str | None = None
    error: str | None = None
    lag_seconds: float | None = None


class ObjectFetcher:
    """Current objects from Stripe, at most one fetch per id per batch.

    Thin events, STRIPE_FETCH_MODE=always and same-second ties all fetch
    through one instance per batch, so a burst of notifications naming one
    subscription costs one request however many there are.
    """

    def __init__(self, client: stripe.StripeClient, clock=time.time):
        self.client = client
        self.clock = clock
        self.cache: dict[str, tuple[dict, float] | Exception] = {}
        self.fetches = 0

    def prefetch(self, sub_ids) -> None:
        for sub_id in sub_ids:
            with contextlib.suppress(EventError):  # kept in the cache; the event that needs it fails then
                self.get(sub_id)

    def get(self, sub_id: str) -> tuple[dict, float]:
        return self.fetch(sub_id, self.client.v1.subscriptions.retrieve)

    def related(self, kind: str, object_id: str) -> tuple[dict, float]:
        """The object a thin event of ``kind`` names (its id was checked by shared.sync.event_shape)."""
        if kind in SUBSCRIPTION_EVENTS:
            return self.get(object_id)
        if kind in CHECKOUT_EVENTS:
            return self.fetch(object_id, self.client.v1.checkout.sessions.retrieve)
        if kind in INVOICE_EVENTS:
            return self.fetch(object_id, self.client.v1.invoices.retrieve)
        raise EventError(f"no way to fetch the object of a thin {kind} event")

    def twin_customer(self, event: Event) -> str:
        """The customer a thin notification without a related object is about (THIN_VIA_SNAPSHOT).

        Its v2 event names the snapshot event of the same change, whose object
        names the customer; two fetches, each checked before it is trusted.
        """
        fetched, _ = self.fetch(event.id, self.client.v2.core.events.retrieve)
        twin_id = check_fetched_thin_event(fetched, event.id, event.type)
        snapshot, _ = self.fetch(twin_id, self.client.v1.events.retrieve)
        return snapshot_customer(snapshot, twin_id, event.kind)

    def fetch(self, object_id: str, retrieve) -> tuple[dict, float]:
        if object_id not in self.cache:
            self.cache[object_id] = self._fetch(object_id, retrieve)
        cached = self.cache[object_id]
        if isinstance(cached, Exception):
            raise EventError(f"could not fetch {object_id} from Stripe: {cached}")
        return cached

    def _fetch(self, object_id: str, retrieve):
        self.fetches += 1
        fetched_at = self.clock()
        try:
            return retrieve(object_id).to_dict(), fetched_at
        except stripe.StripeError as exc:
            return exc


class EventApplier:
    def __init__(self, stripe_client: stripe.StripeClient, clock=time.time, fetch_mode: str = FETCH_TIES):
        self.stripe_client = stripe_client
        self.clock = clock
        self.fetch_mode = fetch_mode
        self.fetches = 0

    def apply_batch(self, envelopes: list[Envelope]) -> list[Result]:
        events, results = self._parse(envelopes)
        events, repeats = _split_repeats(events)
        results += [_result(event, DUPLICATE) for event in repeats]
        already = ledger.done_ids([event.id for event in events])
        results += [_result(event, DUPLICATE) for event in events if event.id in already]
        todo = [e for e in events if e.id not in already]
        if todo:
            fetcher = ObjectFetcher(self.stripe_client, self.clock)
            todo, failures = self._resolve(todo, fetcher)
            results += failures
            todo.sort(key=Event.lock_key)
            fetcher.prefetch(subscriptions_needing_fetch(todo))
            entitlement_fetcher = EntitlementFetcher(self.stripe_client, self.clock)
            entitlement_fetcher.prefetch(customers_needing_fetch(todo))
            results += self._write_with_retry(todo, fetcher, entitlement_fetcher) if todo else []
            self.fetches += fetcher.fetches + entitlement_fetcher.fetches
        return results

    def _resolve(self, events: list[Event], fetcher: ObjectFetcher) -> tuple[list[Event], list[Result]]:
        """Fetch the object of each event that points at one, before any lock is taken.

        A thin event of a handled type always fetches; with STRIPE_FETCH_MODE=always
        a snapshot subscription event does too. An event whose object cannot be
        fetched, or is unfit, fails alone (RQ retries it); the rest go on.
        """
        resolved, failures = [], []
        for event in events:
            try:
                resolved.append(self._resolved(event, fetcher))
            except EventError as exc:
                ledger.record_failure(event.id, event.type, event.created, event.envelope.received_at, str(exc))
                failures.append(_result(event, StripeEvent.FAILED, error=str(exc)))
        return resolved, failures

    def _resolved(self, event: Event, fetcher: ObjectFetcher) -> Event:
        if event.type in THIN_VIA_SNAPSHOT:  # its customer's current entitlements are read before the write
            return event.resolved({"customer": fetcher.twin_customer(event)}, None)
        if event.thin and event.related_id:
            if event.kind == "customer.deleted":  # a deleted customer cannot be fetched; its id is all we need
                return event.resolved({"id": event.related_id}, None)
            obj, fetched_at = fetcher.related(event.kind, event.related_id)
            if obj.get("id") != event.related_id:
                raise EventError(f"Stripe answered {shown(obj.get('id'))} for {event.related_id}")
            OBJECT_CHECKS[event.kind](obj, "related_object (fetched)")
            return event.resolved(obj, fetched_at)
        if self.fetch_mode == FETCH_ALWAYS and event.kind in SUBSCRIPTION_EVENTS and event.subscription_id:
            obj, fetched_at = fetcher.get(event.subscription_id)
            OBJECT_CHECKS[event.kind](obj, "subscription (fetched)")
            return event.resolved(obj, fetched_at)
        return event

    def _parse(self, envelopes):
        events, failures = [], []
        for envelope in envelopes:
            try:
                events.append(Event.parse(envelope))
            except Exception as exc:  # whatever its body holds, this delivery fails alone
                error = str(exc) if isinstance(exc, EventError) else _describe(exc)
                ledger.record_failure(envelope.event_id, "", 0, envelope.received_at, error)
                failures.append(Result(envelope.event_id, "", StripeEvent.FAILED, error=error))
        return events, failures

    def fail_alone(self, envelope: Envelope, exc: Exception) -> Result:
        """Record a delivery that failed even in a batch of its own.

        Its type and time are recorded if it has them; if the ledger refuses
        those too, it is recorded without them. Should even that fail, it is
        logged: the caller still acknowledges it and hands it to RQ, whose
        failed list then shows it.
        """
        error = _describe(exc)
        try:
            event = Event.parse(envelope)
            described = [(event.type, event.created), ("", 0)]
        except Exception:
            described = [("", 0)]
        for kind, created in described:
            try:
                ledger.record_failure(envelope.event_id, kind, created, envelope.received_at, error)
                return Result(envelope.event_id, kind, StripeEvent.FAILED, error=error)
            except Exception as again:
                if is_infrastructure_error(again):
                    raise
                log.error("could not record the failure of %s (%s): %s", envelope.event_id, again, error)
        return Result(envelope.event_id, "", StripeEvent.FAILED, error=error)

    def _write_with_retry(self, events, fetcher, entitlement_fetcher):
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                return self._write(events, fetcher, entitlement_fetcher)
            except peewee.OperationalError as exc:
                # Deadlock or serialisation failure on PostgreSQL, lock
                # timeout on SQLite: nothing was committed, so try again.
                if attempt == TRANSIENT_RETRIES or not is_transient(exc):
                    raise
                log.warning("batch transaction failed (%s); retrying", exc)
                time.sleep(0.05 * attempt)

    def _write(self, events, fetcher, entitlement_fetcher):
        results, applied, failures = [], [], []
        with write_transaction():
            rows = lock_batch(events)
            done = ledger.claim_all(events)
            for event in events:
                if event.id in done:
                    results.append(_result(event, DUPLICATE))
                    continue
                try:
                    applied.append((event, handle(event, rows, fetcher, entitlement_fetcher)))
                except Exception as exc:  # this event alone fails; its changes were not made
                    if is_infrastructure_error(exc) or is_transient(exc):
                        raise  # the database's fault, not the event's: the whole batch is retried
                    failures.append((event, _describe(exc)))
            rows.flush()
            ledger.finish_all(applied)
        results += [self._applied_result(event, effect) for event, effect in applied]
        for event, error in failures:
            ledger.record_failure(event.id, event.type, event.created, event.envelope.received_at, error)
            results.append(_result(event, StripeEvent.FAILED, error=error))
        return results

    def _applied_result(self, event: Event, effect) -> Result:
        lag = max(0.0, self.clock() - event.envelope.received_at)
        return _result(event, effect.outcome, note=effect.note, lag=lag)


def subscriptions_needing_fetch(events: list[Event]) -> set[str]:
    """Subscriptions whose events in this batch will tie with the stored state.

    Replays the ordering rule over the rows as they are now; a row that another
    worker changes meanwhile is still handled (the fetch then happens inline).
    """
    by_sub: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind in SUBSCRIPTION_EVENTS and event.fetched_at is None and (sub_id := event.subscription_id):
            by_sub[sub_id].append(event)
    if not by_sub:
        return set()
    rows = {
        row.id: row
        for row in Subscription.select(Subscription.id, Subscription.version_created, Subscription.fetched_at).where(
            Subscription.id.in_(list(by_sub))
        )
    }
    return {sub_id for sub_id, evs in by_sub.items() if _would_tie(evs, rows.get(sub_id))}


def customers_needing_fetch(events: list[Event]) -> set[str]:
    """Customers whose entitlement summaries in this batch need the full list from Stripe:
    one named by a thin notification (always read, so the newest state wins), one whose
    summary will apply and says ``has_more``, or one that will tie with the stored version."""
    by_customer: dict[str, list[Event]] = defaultdict(list)
    thin: set[str] = set()
    for event in events:
        if event.kind != ENTITLEMENT_SUMMARY_EVENT or not (customer_id := event.customer_id):
            continue
        if event.thin:
            thin.add(customer_id)
        else:
            by_customer[customer_id].append(event)
    if not by_customer:
        return thin
    rows = {
        row.customer_id: row
        for row in CustomerEntitlements.select().where(CustomerEntitlements.customer_id.in_(list(by_customer)))
    }
    return thin | {customer for customer, evs in by_customer.items() if _needs_list(evs, rows.get(customer))}


def _needs_list(events: list[Event], row: CustomerEntitlements | None) -> bool:
    version = row.version_created if row else 0
    fetched_at = row.fetched_at if row else None
    for event in sorted(events, key=Event.lock_key):
        decision = decide(event.created, version, fetched_at)
        if decision is Decision.TIE or (decision is Decision.APPLY and summary_is_partial(event.obj)):
            return True
        if decision is Decision.APPLY:
            version = event.created
    return False


def _would_tie(events: list[Event], row: Subscription | None) -> bool:
    version = row.version_created if row else 0
    fetched_at = row.fetched_at if row else None
    for event in sorted(events, key=Event.lock_key):
        decision = decide(event.created, version, fetched_at)
        if decision is Decision.TIE:
            return True
        if decision is Decision.APPLY:
            version = event.created
    return False


def _split_repeats(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """The first delivery of each event id in the batch, and the repeats."""
    first: dict[str, Event] = {}
    repeats = []
    for event in events:
        if event.id in first:
            repeats.append(event)
        else:
            first[event.id] = event
    return list(first.values()), repeats


def _result(event: Event, outcome: str, note=None, error=None, lag=None) -> Result:
    return Result(event.id, event.type, outcome, event.customer_id, note, error, lag)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def is_transient(exc: Exception) -> bool:
    """A deadlock or serialisation failure (PostgreSQL), a lock or statement timeout: try the batch again."""
    if not isinstance(exc, peewee.OperationalError):
        return False
    text = str(exc).lower()
    return any(
        word in text
        for word in (
            "deadlock",
            "could not serialize",
            "database is locked",
            "lock timeout",
            "statement timeout",
            "could not obtain lock",
        )
    )
