"""Apply: N real worker processes drain a filled inbox into a fresh database.

The workers are started first and wait on the empty stream, so the clock
measures applying, not Python start-up. It starts at the first XADD and stops
once the stream is empty and the ledger holds every event.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from bench import mix
from bench.procs import BIN, peak_rss_mb, service_env, spawn, stop
from devrun.postgres import drop_postgres_schema, postgres_schema_url
from devrun.redis_server import LocalRedis as RedisServer
from devrun.waiting import wait_for
from shared.infra import migrations
from shared.infra.db import database, init_database
from shared.infra.models import StripeEvent, Subscription, User
from shared.infra.queue import billing_queue
from shared.sync import inbox

DEFAULT_POSTGRES = "postgresql://127.0.0.1:5432/test"


@dataclass(frozen=True)
class ApplyPlan:
    events: int = 10_000
    workers: tuple[int, ...] = (1, 2, 4)
    backends: tuple[str, ...] = ("sqlite", "postgres")
    timeout: float = 600


QUICK = ApplyPlan(events=600, workers=(1, 2), backends=("sqlite",), timeout=120)


@contextmanager
def fresh_database(backend: str, workdir: Path, tag: str):
    """A migrated, empty database of its own; yields its URL."""
    if backend == "sqlite":
        path = workdir / f"apply-{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield _migrated(f"sqlite:///{path}")
        return
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES
    url, schema = postgres_schema_url(base)
    try:
        yield _migrated(url)
    finally:
        database.close()
        drop_postgres_schema(base, schema)


def _migrated(url: str) -> str:
    init_database(url)
    with database.connection_context():
        migrations.upgrade()
    return url


def add_users(users) -> None:
    """The accounts the checkouts name (no password hashing: it is not under test)."""
    with database.connection_context(), database.atomic():
        User.insert_many([{"id": uid, "email": email, "password_hash": "-"} for uid, email in users]).execute()


def fill(conn: redis.Redis, deliveries) -> None:
    for start in range(0, len(deliveries), 500):
        pipe = conn.pipeline(transaction=False)
        for event_id, event_type, body in deliveries[start : start + 500]:
            inbox.push(pipe, event_id, event_type, body)  # a pipeline takes the same XADD
        pipe.execute()


def ledger_count() -> int:
    with database.connection_context():
        return StripeEvent.select().count()


def ledger_outcomes() -> dict:
    with database.connection_context():
        query = StripeEvent.select(StripeEvent.outcome).tuples()
        outcomes: dict[str, int] = {}
        for (outcome,) in query.execute():
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return outcomes


def state_digest() -> str:
    """A hash of every subscription's final state and of the user links.

    More workers apply more events out of order (so more are ignored as
    stale), but the state they leave must be the same as one worker's.
    """
    with database.connection_context():
        subs = (
            Subscription.select(
                Subscription.id,
                Subscription.status,
                Subscription.quantity,
                Subscription.version_created,
                Subscription.latest_invoice_id,
                Subscription.invoice_version_created,
            )
            .order_by(Subscription.id)
            .tuples()
        )
        users = User.select(User.id, User.stripe_customer_id).order_by(User.id).tuples()
        return hashlib.sha256(repr((list(subs), list(users))).encode()).hexdigest()[:12]


def start_workers(count: int, env: dict, workdir: Path, conn: redis.Redis, tag: str) -> list:
    processes = [
        spawn(
            [str(BIN / "python"), "-m", "worker", "--name", f"bench-{tag}-{n}"], env, workdir / f"worker-{tag}-{n}.log"
        )
        for n in range(count)
    ]
    wait_for(
        lambda: _all_alive(processes) and Worker.count(connection=conn) == count, timeout=60, what=f"{count} workers"
    )
    return processes


def _all_alive(processes) -> bool:
    dead = [p.args for p in processes if p.poll() is not None]
    if dead:
        raise RuntimeError(f"worker exited early: {dead}")
    return True


def drain(conn: redis.Redis, expected: int, timeout: float, processes) -> float:
    """Seconds from now until the stream is empty and the ledger holds ``expected`` events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _all_alive(processes)
        if conn.xlen(inbox.STREAM_KEY) == 0 and ledger_count() >= expected:
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError(f"not drained within {timeout}s: {conn.xlen(inbox.STREAM_KEY)} left in the stream")


def rq_leftovers(conn: redis.Redis) -> int:
    """Events handed to RQ for retry: there should be none."""
    queue = billing_queue(conn)
    return len(queue) + len(FailedJobRegistry(queue=queue)) + len(ScheduledJobRegistry(queue=queue))


def run_one(backend: str, workers: int, events: mix.Mix, plan: ApplyPlan, workdir: Path, redis_url: str) -> dict:
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    tag = f"{backend}-{workers}"
    with fresh_database(backend, workdir, tag) as url:
        add_users(events.users)
        env = service_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            STRIPE_WEBHOOK_SECRET="whsec_bench",
            LOG_LEVEL="INFO",
        )
        processes = start_workers(workers, env, workdir, conn, tag)
        try:
            started = time.monotonic()
            fill(conn, events.deliveries)
            filled = time.monotonic() - started
            seconds = drain(conn, events.unique_ids, plan.timeout, processes) - started
            rss = [round(peak_rss_mb(p.pid), 1) for p in processes]
        finally:
            for process in processes:
                stop(process)
        outcomes, digest = ledger_outcomes(), state_digest()
    return {
        "backend": backend,
        "workers": workers,
        "deliveries": len(events.deliveries),
        "unique_events": events.unique_ids,
        "seconds": round(seconds, 2),
        "fill_seconds": round(filled, 2),
        "events_per_s": round(len(events.deliveries) / seconds, 1),
        "ledger": outcomes,
        "drained": sum(outcomes.values()) == events.unique_ids and conn.xlen(inbox.STREAM_KEY) == 0,
        "rq_leftovers": rq_leftovers(conn),
        "peak_rss_mb": rss,
        "state_digest": digest,
    }


def run_apply(workdir: Path, plan: ApplyPlan) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    events = mix.build(plan.events)
    server = RedisServer(workdir / "redis-apply").start()
    try:
        return [
            run_one(backend, n, events, plan, workdir, server.url) for backend in plan.backends for n in plan.workers
        ]
    finally:
        server.stop()
