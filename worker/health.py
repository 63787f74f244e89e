"""The worker's health: what it records as it goes, and the check compose runs.

The worker counts as progressing whenever it applies a batch or finds nothing
to do (the inbox read came back empty), and records the time of the last such
moment, with the kind of its last failure, in its RQ worker hash, in the same
round trip as its heartbeat (once per batch, or once a second when idle).

``python -m worker --healthcheck`` then fails when:
- Redis does not answer (it also holds what the worker recorded),
- the database does not answer ``SELECT 1``,
- no worker on this host has progressed in the last ``WORKER_STALL_SECONDS``:
  dead, hung, blocked on a lock, or failing every batch while work waits.
A worker that is idle progresses every second, so it never looks stalled.
"""

from __future__ import annotations

import socket
import time

import redis
from rq import Worker

from shared.infra.db import init_database
from shared.infra.parsing import finite_number
from shared.infra.redis_conn import as_text, connect_redis
from shared.infra.settings import Settings
from shared.ops import readiness

PROGRESS_FIELD = "portal_progress_at"
FAILURE_FIELD = "portal_last_failure"
CHECK_TIMEOUT_SECONDS = 3  # compose gives the whole check 10 s; libpq's connect_timeout is 5 s


class HealthRecord:
    """The worker's own account of its progress, written with each heartbeat."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.progress_at = clock()
        self.last_failure = ""

    def progressed(self) -> None:
        self.progress_at = self.clock()

    def failed(self, exc: BaseException) -> None:
        # The kind only: the text can hold a host name, and the check's
        # output lands in `docker inspect`. The log has the details.
        self.last_failure = f"{type(exc).__name__} at {time.strftime('%H:%M:%S', time.gmtime(self.clock()))}Z"

    def fields(self) -> dict:
        return {PROGRESS_FIELD: f"{self.progress_at:.3f}", FAILURE_FIELD: self.last_failure}


def stall_problem(
    conn: redis.Redis, stall_seconds: float, hostname: str | None = None, now: float | None = None
) -> str | None:
    """None if a worker on this host progressed in the last ``stall_seconds``, else why not."""
    hostname = hostname or socket.gethostname()
    now = time.time() if now is None else now
    ages = []
    for worker in Worker.all(connection=conn):
        if worker.hostname != hostname:
            continue
        stored_at, failure = conn.hmget(worker.key, PROGRESS_FIELD, FAILURE_FIELD)
        progress_at = finite_number(stored_at)
        if progress_at is None:  # none recorded, or not a time: no progress to show
            continue
        age = now - progress_at
        if age < stall_seconds:
            return None
        ages.append((age, worker.name, as_text(failure or b"")))
    if not ages:
        return f"no worker on {hostname} is registered in Redis"
    age, name, failure = min(ages)
    return f"worker {name} has made no progress for {age:.0f} s (limit {stall_seconds} s)" + (
        f"; last failure: {failure}" if failure else ""
    )


def problem(settings: Settings, hostname: str | None = None) -> str | None:
    """None when this host's worker is healthy, else the first reason it is not."""
    conn = connect_redis(settings.redis_url, timeout=CHECK_TIMEOUT_SECONDS)
    trouble = readiness.check_redis(conn)
    if trouble:
        return f"redis {trouble}"
    init_database(settings.database_url)
    trouble = readiness.check_database()
    if trouble:
        return f"database {trouble}"
    try:
        return stall_problem(conn, settings.worker_stall_seconds, hostname)
    except (UnicodeDecodeError, ValueError) as exc:  # RQ could not read a worker's record
        return f"a worker's record in Redis cannot be read ({type(exc).__name__})"
