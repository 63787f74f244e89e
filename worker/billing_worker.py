"""The worker: an RQ worker that also drains the webhook inbox in batches.

RQ's own job loop costs several Redis round trips per job, too slow to apply
one event per job (docs/benchmarks.md).
So the hot path reads the inbox stream in batches and applies each batch in
one transaction, while RQ keeps doing what it is good at: retrying failed
events with backoff (its scheduler), recording final failures, heartbeats,
and a warm shutdown on SIGTERM that finishes the current batch or job.

It outlives its services. A batch that fails (the database or Redis went
away) stays pending and is read again after a growing pause; the database
connection is reopened between batches (shared.infra.db.unit_of_work). RQ's work
loop quits on any Redis error, so every Redis call it makes between batches
(heartbeat, suspension check, maintenance, running a job) waits for Redis
here instead, and RQ's scheduler process, which exits on a Redis error, is
started again once Redis is back.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import redis
from rq.worker import SimpleWorker, WorkerStatus

from shared.infra.db import unit_of_work
from worker.consumer import InboxConsumer
from worker.health import HealthRecord
from worker.notifier import NotificationSweeper

log = logging.getLogger(__name__)

IDLE_BLOCK_MS = 1000  # wake up this often when idle: heartbeat, retries, stop requests
FIRST_PAUSE_SECONDS = 0.2
MAX_PAUSE_SECONDS = 10
SCHEDULER_RESTART_SECONDS = 5  # how often to try to restart RQ's scheduler after it died
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


class Backoff:
    """Pauses that double after each failure in a row, up to a cap; a success resets them."""

    def __init__(self, first: float = FIRST_PAUSE_SECONDS, most: float = MAX_PAUSE_SECONDS):
        self.first, self.most = first, most
        self.failures = 0

    def next_pause(self) -> float:
        self.failures += 1
        return min(self.first * 2 ** (self.failures - 1), self.most)

    def reset(self) -> None:
        self.failures = 0


class BillingWorker(SimpleWorker):
    consumer: InboxConsumer
    sweeper: NotificationSweeper | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.health = HealthRecord()
        self.backoff = Backoff()
        self._next_scheduler_restart = 0.0

    def attach(self, consumer: InboxConsumer, sweeper: NotificationSweeper | None = None) -> BillingWorker:
        self.consumer = consumer
        self.sweeper = sweeper
        return self

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Between RQ jobs, drain the inbox; return an RQ job when one is queued."""
        burst = timeout is None
        self._state = WorkerStatus.IDLE
        with self._tolerating_redis_outage("setting the state"):
            self.set_state(WorkerStatus.IDLE)
        while True:
            try:
                self.heartbeat()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                self._restart_dead_scheduler()
                # Wait on the inbox only when no job is queued: a notification job must not wait out an idle read.
                drained = self._drain_once(None if burst or self._jobs_waiting() else IDLE_BLOCK_MS)
                self._sweep_notifications(changed=drained > 0 or burst)
                if self._stop_requested:
                    return None
                job = self._next_rq_job()
            except REDIS_DOWN as exc:
                self._pause_after("Redis is unavailable", exc)
                continue
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
            self._state = WorkerStatus.IDLE
            raise
        if not entries:
            self._caught_up()
            self.set_state(WorkerStatus.IDLE)
            return 0
        try:
            with unit_of_work():
                self.consumer.process(entries)
        except Exception as exc:
            # The database or Redis is unavailable. The batch stays pending in
            # the stream and is read again; pause rather than spin or exit.
            self.consumer.read_own_pending_next()
            self._state = WorkerStatus.IDLE  # a SIGTERM during the pause stops at once
            self._pause_after(f"batch of {len(entries)} deliveries not applied", exc)
            return len(entries)
        self._caught_up()
        self.set_state(WorkerStatus.IDLE)
        return len(entries)

    def _sweep_notifications(self, changed: bool) -> None:
        """Hand due notifications to jobs; a database outage only delays them (their rows wait)."""
        if self.sweeper is None:
            return
        try:
            with unit_of_work():
                self.sweeper.sweep(changed)
        except REDIS_DOWN:
            raise
        except Exception as exc:  # the database: the rows stay due and the next sweep takes them
            log.warning("notifications not swept (%s: %s)", type(exc).__name__, exc)

    def _caught_up(self) -> None:
        self.backoff.reset()
        self.health.progressed()

    def _pause_after(self, what: str, exc: BaseException) -> None:
        self.health.failed(exc)
        pause = self.backoff.next_pause()
        log.error(
            "%s (%s: %s); trying again in %.1fs",
            what,
            type(exc).__name__,
            exc,
            pause,
            exc_info=not isinstance(exc, REDIS_DOWN),
        )
        time.sleep(pause)

    def _jobs_waiting(self) -> bool:
        return any(queue.count for queue in self.queues)

    def _next_rq_job(self):
        while True:
            try:
                result = self.queue_class.dequeue_any(
                    self._ordered_queues,
                    None,  # no blocking: the inbox read above is the wait
                    connection=self.connection,
                    job_class=self.job_class,
                    serializer=self.serializer,
                    death_penalty_class=self.death_penalty_class,
                )
                break
            except REDIS_DOWN:
                raise
            except Exception as exc:
                self._set_aside_unreadable_job(exc)
        if result is not None:
            job, queue = result
            self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
        return result

    def _set_aside_unreadable_job(self, exc: Exception) -> None:
        """A job hash RQ cannot even load (written to Redis by hand) would end RQ's
        loop, here and again at every maintenance: drop it from the queue instead."""
        job_id, queue = getattr(exc, "job_id", None), getattr(exc, "queue", None)
        if job_id is None or queue is None:
            raise exc
        queue.intermediate_queue.remove(job_id)
        log.error(
            "job %s cannot be loaded (%s: %s); taken off the queue %s, its hash left for inspection",
            job_id,
            type(exc).__name__,
            exc,
            queue.name,
        )

    def _restart_dead_scheduler(self) -> None:
        """RQ's scheduler process exits on a Redis error; RQ itself restarts it
        only at maintenance, every 10 minutes, delaying every retry till then."""
        process = self.scheduler._process if self.scheduler else None
        if process is None or process.is_alive() or time.monotonic() < self._next_scheduler_restart:
            return
        self._next_scheduler_restart = time.monotonic() + SCHEDULER_RESTART_SECONDS
        self.log.warning("Worker %s: the scheduler process exited; starting it again", self.name)
        self.scheduler.acquire_locks(auto_start=True)

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's heartbeat, with this worker's health record, in one round trip."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            pipeline.hset(self.key, mapping=self.health.fields())
            return
        with self._tolerating_redis_outage("heartbeat"), self.connection.pipeline(transaction=False) as pipe:
            self.heartbeat(timeout, pipe)
            pipe.execute()

    # RQ's work loop makes these calls between our batches; it quits on any
    # Redis error they raise. Our loop above waits for Redis instead.
    def check_for_suspension(self, burst):
        with self._tolerating_redis_outage("suspension check"):
            super().check_for_suspension(burst)

    def run_maintenance_tasks(self):
        with self._tolerating_redis_outage("maintenance"):
            super().run_maintenance_tasks()

    def execute_job(self, job, queue):
        with self._tolerating_redis_outage(f"job {job.id}"):
            super().execute_job(job, queue)

    def set_shutdown_requested_date(self):
        with self._tolerating_redis_outage("shutdown request"):
            super().set_shutdown_requested_date()

    @contextmanager
    def _tolerating_redis_outage(self, what: str):
        try:
            yield
        except REDIS_DOWN as exc:
            self.health.failed(exc)
            log.warning("%s skipped: Redis is unavailable (%s)", what, exc)

    def teardown(self):
        try:
            with self._tolerating_redis_outage("leaving the consumer group"):
                self.consumer.leave()
        finally:
            with self._tolerating_redis_outage("deregistering"):
                super().teardown()
