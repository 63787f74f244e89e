"""Reads the webhook inbox in batches and settles each batch in one round trip.

A batch is acknowledged (XACK + XDEL) only after its transaction committed.
Events that failed on their own data are handed to RQ in the same Redis
transaction as the acknowledgement, so nothing is dropped between the two:
RQ then retries them with backoff and keeps the final failure visible.
A batch the database refuses as a whole is split in halves until the
delivery at fault is alone; only a database (or Redis) that cannot be
reached leaves a batch pending.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import redis
from rq import Queue, Retry

from shared.infra.db import database_reachable, is_infrastructure_error
from shared.infra.logs import log_event
from shared.infra.models import StripeEvent
from shared.infra.redis_conn import as_text
from shared.ops import metrics
from shared.sync import inbox
from shared.sync.apply import EventApplier, Result, is_transient
from shared.sync.inbox import Envelope

log = logging.getLogger(__name__)

RETRY_INTERVALS = [10, 30, 120, 600, 1800]  # seconds; RQ's scheduler runs them
FAILED_TTL = 30 * 24 * 3600  # keep final failures for a month, like Stripe's events


class InboxConsumer:
    def __init__(
        self,
        conn: redis.Redis,
        applier: EventApplier,
        queue: Queue,
        name: str,
        batch_size: int = 200,
        claim_idle_seconds: int = 60,
        max_retries: int = 5,
    ):
        self.conn = conn
        self.applier = applier
        self.queue = queue
        self.name = name
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_seconds * 1000
        self.max_retries = max_retries
        self._reread_own = True  # after a start or a failed batch, our own pending first
        self._next_claim = 0.0
        inbox.ensure_group(conn)

    def read(self, block_ms: int | None) -> list[tuple[str, dict]]:
        """The next batch: our own unfinished entries, a dead worker's, or new ones.

        A stream or consumer group that vanished (deleted by hand, a Redis
        restored without them) is created again, reading from the start of
        whatever the stream holds; this read then returns nothing.
        """
        try:
            return self._read(block_ms)
        except redis.ResponseError as exc:
            if not _group_is_gone(exc):
                raise
            log.warning("the inbox's consumer group is gone (%s); creating it again", exc)
            inbox.ensure_group(self.conn)
            self._reread_own = True
            return []

    def read_own_pending_next(self) -> None:
        """After a batch failed, wherever it failed: read it again before anything new."""
        self._reread_own = True

    def _read(self, block_ms: int | None) -> list[tuple[str, dict]]:
        if self._reread_own:
            entries = self._read_group("0", None)
            self._reread_own = False
            if entries:
                return entries
        entries = self._claim_abandoned()
        if entries:
            return entries
        return self._read_group(">", block_ms)

    def process(self, entries: list[tuple[str, dict]]) -> list[Result]:
        """Settle every entry (applied, duplicate, or recorded failed and handed to
        RQ), then acknowledge them all; or raise, for a database or Redis that
        cannot be reached, leaving them all pending."""
        live = [(entry_id, fields) for entry_id, fields in entries if fields]
        envelopes = [Envelope.from_entry(entry_id, fields) for entry_id, fields in live]
        started = time.monotonic()
        try:
            results = self._apply_contained(envelopes) if envelopes else []
        except Exception:
            self._reread_own = True  # left pending: retried by this worker or claimed
            raise
        self._settle([entry_id for entry_id, _ in entries], envelopes, results)
        elapsed = (time.monotonic() - started) / max(len(results), 1)
        for result in results:
            log_event(result, elapsed)
            metrics.count_event(result)
        return results

    def _apply_contained(self, envelopes: list[Envelope]) -> list[Result]:
        """Apply the batch; if it fails as a whole and the database is not to
        blame, apply each half, until the delivery at fault is alone and fails
        on its own (O(k log n) batches for k such deliveries)."""
        try:
            return self.applier.apply_batch(envelopes)
        except Exception as exc:
            if is_infrastructure_error(exc) or is_transient(exc) or not database_reachable():
                raise  # infrastructure: the batch is not at fault and stays pending
            if len(envelopes) == 1:
                return [self.applier.fail_alone(envelopes[0], exc)]
            log.warning(
                "batch of %d deliveries failed as a whole (%s: %s); applying each half",
                len(envelopes),
                type(exc).__name__,
                (str(exc).splitlines() or [""])[0][:300],
            )
            middle = len(envelopes) // 2
            return self._apply_contained(envelopes[:middle]) + self._apply_contained(envelopes[middle:])

    def _read_group(self, start: str, block_ms: int | None):
        # redis-py types the reply for RESP2 and RESP3 at once; these clients speak RESP2: [[stream, entries]].
        reply = cast(
            "list[list[Any]] | None",
            self.conn.xreadgroup(
                inbox.GROUP, self.name, {inbox.STREAM_KEY: start}, count=self.batch_size, block=block_ms
            ),
        )
        return [(as_text(entry_id), fields) for _, batch in (reply or []) for entry_id, fields in batch]

    def _claim_abandoned(self):
        if time.monotonic() < self._next_claim:
            return []
        self._next_claim = time.monotonic() + self.claim_idle_ms / 2000
        reply = self.conn.xautoclaim(
            inbox.STREAM_KEY, inbox.GROUP, self.name, self.claim_idle_ms, "0-0", count=self.batch_size
        )
        claimed = [(as_text(entry_id), fields) for entry_id, fields in reply[1]]
        if claimed:
            log.warning("claimed %d deliveries abandoned by a stopped worker", len(claimed))
        return claimed

    def _settle(self, entry_ids, envelopes, results):
        failed = {r.event_id for r in results if r.outcome == StripeEvent.FAILED}
        pipe = self.conn.pipeline(transaction=True)
        for envelope in _first_delivery_of(envelopes, failed):
            self.queue.enqueue_call(
                "worker.jobs.apply_event",
                args=(envelope.to_job_arg(),),
                job_id=f"event-{envelope.event_id}-{envelope.delivery_id}",
                retry=Retry(max=self.max_retries, interval=RETRY_INTERVALS) if self.max_retries else None,
                failure_ttl=FAILED_TTL,
                result_ttl=3600,
                description=f"apply {envelope.event_id}",
                pipeline=pipe,
            )
        if entry_ids:
            pipe.xack(inbox.STREAM_KEY, inbox.GROUP, *entry_ids)
            pipe.xdel(inbox.STREAM_KEY, *entry_ids)
        pipe.execute()

    def leave(self) -> None:
        """Remove this consumer from the group if it holds nothing pending."""
        try:
            summary = self.conn.xpending_range(inbox.STREAM_KEY, inbox.GROUP, "-", "+", 1, consumername=self.name)
            if not summary:
                self.conn.xgroup_delconsumer(inbox.STREAM_KEY, inbox.GROUP, self.name)
        except redis.ResponseError as exc:
            if not _group_is_gone(exc):
                raise  # with no group, there is nothing to leave


def _first_delivery_of(envelopes: list[Envelope], event_ids: set[str]) -> list[Envelope]:
    chosen: dict[str, Envelope] = {}
    for envelope in envelopes:
        if envelope.event_id in event_ids:
            chosen.setdefault(envelope.event_id, envelope)
    return list(chosen.values())


def _group_is_gone(exc: redis.ResponseError) -> bool:
    # NOGROUP: no such stream or group. UNBLOCKED: Redis 7 ends a blocked
    # XREADGROUP this way when its stream is deleted.
    return str(exc).startswith(("NOGROUP", "UNBLOCKED"))
