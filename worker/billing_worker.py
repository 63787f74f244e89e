"""The worker: an RQ worker that also drains the webhook inbox in batches.

RQ's own job loop costs several Redis round trips per job (about 250 no-op
jobs/s for SimpleWorker on 2 cores), too slow to apply one event per job.
So the hot path reads the inbox stream in batches and applies each batch in
one transaction, while RQ keeps doing what it is good at: retrying failed
events with backoff (its scheduler), recording final failures, heartbeats,
and a warm shutdown on SIGTERM that finishes the current batch or job.
"""
from __future__ import annotations

import logging
import time

from rq.worker import SimpleWorker, WorkerStatus

from worker.consumer import InboxConsumer

log = logging.getLogger(__name__)

IDLE_BLOCK_MS = 1000  # wake up this often when idle: heartbeat, retries, stop requests
MAX_PAUSE_SECONDS = 10


class BillingWorker(SimpleWorker):
    consumer: InboxConsumer
    _failures_in_a_row = 0

    def attach(self, consumer: InboxConsumer) -> "BillingWorker":
        self.consumer = consumer
        return self

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Between RQ jobs, drain the inbox; return an RQ job when one is queued."""
        burst = timeout is None
        self.set_state(WorkerStatus.IDLE)
        while True:
            self.heartbeat()
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            drained = self._drain_once(None if burst else IDLE_BLOCK_MS)
            if self._stop_requested:
                return None
            job = self._next_rq_job()
            if job is not None:
                return job
            if burst and not drained:
                return None

    def _drain_once(self, block_ms):
        # BUSY before the read: a SIGTERM now waits for the read (at most one
        # idle block) and the batch it returns instead of interrupting them. Set
        # after the read, a signal landing between the two left the batch read
        # but unapplied, pending until another worker claimed it.
        self.set_state(WorkerStatus.BUSY)
        try:
            entries = self.consumer.read(block_ms)
        except BaseException:
            self.set_state(WorkerStatus.IDLE)
            raise
        if not entries:
            self.set_state(WorkerStatus.IDLE)
            return 0
        try:
            self.consumer.process(entries)
            self._failures_in_a_row = 0
        except Exception:
            # The database or Redis is unavailable. The batch stays pending in
            # the stream and is read again; pause rather than spin or exit.
            self._failures_in_a_row += 1
            pause = min(2 ** self._failures_in_a_row * 0.1, MAX_PAUSE_SECONDS)
            log.exception("batch of %d deliveries not applied; retrying in %.1fs", len(entries), pause)
            time.sleep(pause)
        finally:
            self.set_state(WorkerStatus.IDLE)
        return len(entries)

    def _next_rq_job(self):
        result = self.queue_class.dequeue_any(
            self._ordered_queues,
            None,  # no blocking: the inbox read above is the wait
            connection=self.connection,
            job_class=self.job_class,
            serializer=self.serializer,
            death_penalty_class=self.death_penalty_class,
        )
        if result is not None:
            job, queue = result
            self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
        return result

    def teardown(self):
        try:
            self.consumer.leave()
        finally:
            super().teardown()
