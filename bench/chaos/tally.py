"""The counts at the end: what was acknowledged, what the database holds, what went wrong.

- acknowledged: innocent events (distinct ids) that got a 2xx at least once.
- applied: of those, the ones the ledger holds as applied or ignored (stale).
- lost: acknowledged minus applied.
- applied_twice: events that reached a settled outcome in more than one
  committed transaction (the audit trigger of bench/chaos/stack.py counts them;
  the ledger is meant to make every redelivery a no-op).
- wrong: subscriptions whose row differs from Stripe's final state (the
  sandbox's), on the columns an event history decides.
- poison_failed: acknowledged poison events (answered 2xx by the web, or
  written straight into the stream) recorded failed in the ledger or handed to
  RQ's failure handling (queued, scheduled for retry, or failed).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import asdict, dataclass
from typing import cast

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from bench.histories import COMPARED
from shared.infra.db import database
from shared.infra.models import StripeEvent, Subscription
from shared.infra.queue import billing_queue
from shared.sync import inbox
from shared.sync.event_shape import storable_id
from shared.sync.ledger import DONE

DRAIN_LIMIT_SECONDS = 60


@dataclass
class Counts:
    acknowledged: int
    applied: int
    lost: int
    applied_twice: int
    wrong: int
    poison_failed: int
    poison_acknowledged: int
    drain_seconds: float | None  # None: not drained before the deadline
    unacknowledged: int  # innocent events never answered 2xx before the deadline

    def line(self) -> str:
        drain = "undrained" if self.drain_seconds is None else f"{self.drain_seconds:.1f}"
        return (
            f"acknowledged={self.acknowledged} applied={self.applied} lost={self.lost} "
            f"applied_twice={self.applied_twice} wrong={self.wrong} "
            f"poison_failed={self.poison_failed}/{self.poison_acknowledged} drain_seconds={drain}"
        )

    def failures(self, drain_limit: float = DRAIN_LIMIT_SECONDS) -> list[str]:
        """The promises broken; empty when the run passed."""
        broken = [
            f"{name}={value}"
            for name, value in (
                ("lost", self.lost),
                ("applied_twice", self.applied_twice),
                ("wrong", self.wrong),
                ("unacknowledged", self.unacknowledged),
            )
            if value
        ]
        if self.poison_failed != self.poison_acknowledged:
            broken.append(f"poison not recorded failed: {self.poison_acknowledged - self.poison_failed}")
        if self.drain_seconds is None or self.drain_seconds > drain_limit:
            broken.append(f"not drained within {drain_limit:.0f}s of the last fault")
        return broken

    def as_dict(self) -> dict:
        return asdict(self)


def ledger() -> dict[str, tuple[str, int]]:
    """Every ledger row: id -> (outcome, attempts)."""
    with database.connection_context():
        query = StripeEvent.select(StripeEvent.id, StripeEvent.outcome, StripeEvent.attempts).tuples()
        return {event_id: (outcome, attempts) for event_id, outcome, attempts in query.execute()}


def count_settled() -> int:
    with database.connection_context():
        return StripeEvent.select().where(StripeEvent.outcome.in_(DONE)).count()


def settled_transitions() -> Counter:
    """How many committed transactions settled each event (the audit trigger's rows)."""
    with database.connection_context():
        cursor = database.execute_sql("SELECT event_id, count(*) FROM chaos_settled GROUP BY event_id")
        return Counter(dict(cursor.fetchall()))


def stored_rows() -> dict[str, dict]:
    with database.connection_context():
        return {row.id: {name: getattr(row, name) for name in COMPARED} for row in Subscription.select()}


def wrong_rows(expected: dict[str, dict], stored: dict[str, dict]) -> dict[str, dict]:
    """sub id -> {column: (expected, stored)} for every row that differs (a missing row: all)."""
    wrong = {}
    for sub_id, want in expected.items():
        have = stored.get(sub_id, {})
        diff = {name: (str(want[name]), str(have.get(name))) for name in COMPARED if have.get(name) != want[name]}
        if diff:
            wrong[sub_id] = diff
    return wrong


def event_ids_in_rq(conn: redis.Redis) -> set[str]:
    """Event ids of every apply job RQ holds: queued, running, scheduled for retry, or failed."""
    queue = billing_queue(conn)
    job_ids = set(queue.get_job_ids())
    for registry in (FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry):
        job_ids.update(registry(queue=queue).get_job_ids())
    found: set[str] = set()
    for job in Job.fetch_many(sorted(job_ids), connection=conn, serializer=JSONSerializer):
        if job is None:  # gone since it was listed
            continue
        # not one of ours, or unreadable: it proves nothing about any event
        with contextlib.suppress(AttributeError, IndexError, KeyError, TypeError, ValueError):
            found.add(job.args[0]["event_id"])
    return found


def event_ids_in_stream(conn: redis.Redis) -> set[str]:
    """Deliveries still waiting (stranded or slow, not vanished): applied entries are deleted."""
    found: set[str] = set()
    last = "-"
    while True:
        # redis-py types entries loosely (str or bytes, ids optional); this client answers bytes.
        batch = cast("list[tuple[bytes, dict[bytes, bytes]]]", conn.xrange(inbox.STREAM_KEY, min=last, count=1000))
        found.update(fields[b"id"].decode("utf-8", "replace") for _, fields in batch if b"id" in fields)
        if len(batch) < 1000:
            return found
        last = "(" + batch[-1][0].decode()


def ledger_row(rows: dict[str, tuple[str, int]], event_id: str) -> tuple[str, int]:
    """The event's ledger row; an id the ledger cannot hold (NUL, too long) is
    recorded under its stand-in (shared.sync.event_shape.storable_id)."""
    return rows.get(storable_id(event_id), ("absent", 0))


def in_rq(found: set[str], event_id: str) -> bool:
    return storable_id(event_id) in found


def settled(rows: dict[str, tuple[str, int]], event_id: str) -> bool:
    return ledger_row(rows, event_id)[0] in DONE


def failed(rows: dict[str, tuple[str, int]], found_in_rq: set[str], event_id: str) -> bool:
    return ledger_row(rows, event_id)[0] == StripeEvent.FAILED or in_rq(found_in_rq, event_id)
