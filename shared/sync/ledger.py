"""The event ledger: which Stripe events were applied, ignored or failed."""

from __future__ import annotations

from peewee import EXCLUDED

from shared.infra import bulk
from shared.infra.db import database, is_postgres
from shared.infra.models import StripeEvent
from shared.infra.timeutil import from_epoch, utcnow

DONE = (StripeEvent.APPLIED, StripeEvent.IGNORED)
PENDING = "pending"  # only ever seen inside the transaction that applies it


def done_ids(event_ids: list[str]) -> set[str]:
    """Events already applied or ignored: a redelivery of these is a no-op."""
    if not event_ids:
        return set()
    query = StripeEvent.select(StripeEvent.id).where(StripeEvent.id.in_(event_ids), StripeEvent.outcome.in_(DONE))
    return {row.id for row in query}


def claim_all(events) -> set[str]:
    """Create and lock the batch's ledger rows, in id order; return the ids already done."""
    ordered = sorted(events, key=lambda event: event.id)
    bulk.insert_rows(
        "ledger claim",
        StripeEvent,
        [_pending_row(event) for event in ordered],
        lambda insert: insert.on_conflict_ignore(),
    )
    query = (
        StripeEvent.select(StripeEvent.id, StripeEvent.outcome)
        .where(StripeEvent.id.in_([event.id for event in ordered]))
        .order_by(StripeEvent.id)
    )
    if is_postgres():
        query = query.for_update()
    return {row.id for row in query if row.outcome in DONE}


def _pending_row(event, **fields) -> StripeEvent:
    return StripeEvent(
        id=event.id,
        type=event.type,
        created=event.created,
        customer_id=event.customer_id,
        received_at=from_epoch(event.envelope.received_at) or utcnow(),
        **{"outcome": PENDING, **fields},
    )


def finish_all(outcomes) -> None:
    """Record each (event, effect) of the batch in one statement."""
    if not outcomes:
        return
    now = utcnow()
    rows = [
        _pending_row(event, outcome=effect.outcome, note=effect.note, processed_at=now, attempts=1)
        for event, effect in outcomes
    ]
    bulk.insert_rows(
        "ledger finish",
        StripeEvent,
        rows,
        lambda insert: insert.on_conflict(
            conflict_target=[StripeEvent.id],
            update={
                StripeEvent.outcome: EXCLUDED.outcome,
                StripeEvent.note: EXCLUDED.note,
                StripeEvent.error: None,
                StripeEvent.processed_at: EXCLUDED.processed_at,
                StripeEvent.attempts: StripeEvent.attempts + 1,
            },
        ),
    )


def record_failure(event_id: str, event_type: str, created: int, received_at: float, error: str) -> None:
    """Keep a failure visible; never overwrite an event that did get applied."""
    error = error.replace("\x00", "\\x00")  # a message may quote the event's data; PostgreSQL text holds no NUL
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
