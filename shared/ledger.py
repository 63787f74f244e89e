"""The event ledger: which Stripe events were applied, ignored or failed."""
from __future__ import annotations

from shared.db import database, is_postgres
from shared.models import StripeEvent
from shared.timeutil import from_epoch, utcnow

DONE = (StripeEvent.APPLIED, StripeEvent.IGNORED)
PENDING = "pending"  # only ever seen inside the transaction that applies it


def done_ids(event_ids: list[str]) -> set[str]:
    """Events already applied or ignored: a redelivery of these is a no-op."""
    if not event_ids:
        return set()
    query = StripeEvent.select(StripeEvent.id).where(
        StripeEvent.id.in_(event_ids), StripeEvent.outcome.in_(DONE)
    )
    return {row.id for row in query}


def claim(event) -> StripeEvent | None:
    """Lock the event's ledger row, creating it; None if it is already done."""
    StripeEvent.insert(
        id=event.id,
        type=event.type,
        created=event.created,
        customer_id=event.customer_id,
        received_at=from_epoch(event.envelope.received_at) or utcnow(),
        outcome=PENDING,
    ).on_conflict_ignore().execute()
    query = StripeEvent.select().where(StripeEvent.id == event.id)
    if is_postgres():
        query = query.for_update()
    row = query.get()
    return None if row.outcome in DONE else row


def finish(row: StripeEvent, outcome: str, note: str | None) -> None:
    StripeEvent.update(
        outcome=outcome,
        note=note,
        error=None,
        processed_at=utcnow(),
        attempts=StripeEvent.attempts + 1,
    ).where(StripeEvent.id == row.id).execute()


def record_failure(event_id: str, event_type: str, created: int, received_at: float, error: str) -> None:
    """Keep a failure visible; never overwrite an event that did get applied."""
    with database.atomic():
        StripeEvent.insert(
            id=event_id,
            type=event_type or "unknown",
            created=created or 0,
            received_at=from_epoch(received_at) or utcnow(),
            outcome=StripeEvent.FAILED,
            error=error,
            attempts=1,
            processed_at=utcnow(),
        ).on_conflict(
            conflict_target=[StripeEvent.id],
            update={
                StripeEvent.outcome: StripeEvent.FAILED,
                StripeEvent.error: error,
                StripeEvent.attempts: StripeEvent.attempts + 1,
                StripeEvent.processed_at: utcnow(),
            },
            where=StripeEvent.outcome.not_in(DONE),
        ).execute()
