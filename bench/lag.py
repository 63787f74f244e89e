"""The lag a subscriber feels: from webhook received to row applied, at a steady rate, 2 workers.

Real gunicorn takes signed subscription events at a steady rate (the same
sender as bench/notify.py, round-robin over subscriptions, each event of a
subscription in a later second than the one before); two real workers apply
them. Each event's lag is read from the ledger's own timestamps: received_at
(set by the web when it put the delivery in the inbox) to processed_at (set
in the transaction that applied it). The first seconds warm the processes
(first connections and queries) and are plotted but not counted.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis

from bench.apply import fresh_database, ledger_count, start_workers
from bench.notify import STRIPE_SECRET, NotifyPlan, post_steadily
from bench.procs import Gunicorn, service_env, stop
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from devrun.waiting import wait_for
from shared.infra.db import database
from shared.infra.models import StripeEvent


@dataclass(frozen=True)
class LagPlan:
    rate: int = 200  # events per second
    seconds: int = 60
    subscriptions: int = 200
    workers: int = 2
    backends: tuple[str, ...] = ("sqlite", "postgres")
    warmup_seconds: int = 2  # sent before the measured seconds; not counted


QUICK = LagPlan(rate=50, seconds=2, subscriptions=20, backends=("sqlite",), warmup_seconds=1)


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ledger_lags() -> list[tuple[float, float, str]]:
    """(received, lag) in seconds for every event in the ledger, in order received, and its outcome."""
    with database.connection_context():
        query = StripeEvent.select(StripeEvent.received_at, StripeEvent.processed_at, StripeEvent.outcome)
        rows = sorted(cast("list[tuple]", list(query.tuples())))  # peewee's stubs type rows as models
    if not rows:
        return []
    first = rows[0][0]
    return [
        ((received - first).total_seconds(), (processed - received).total_seconds() if processed else -1.0, outcome)
        for received, processed, outcome in rows
    ]


def run_one(backend: str, plan: LagPlan, workdir: Path, redis_url: str) -> dict:
    with fresh_database(backend, workdir, "lag") as url:
        env = service_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
            LOG_LEVEL="WARNING",
            PROMETHEUS_MULTIPROC_DIR=workdir / f"prometheus-lag-{backend}",
        )
        conn = redis.Redis.from_url(redis_url)
        conn.flushdb()
        web = Gunicorn("portal_service:create_app()", free_port(), 2, env, workdir / f"gunicorn-lag-{backend}.log")
        web.start()
        workers = start_workers(plan.workers, env, workdir, conn, f"lag-{backend}")
        try:
            started = time.monotonic()
            sent = post_steadily(
                web.port, NotifyPlan(plan.rate, plan.warmup_seconds + plan.seconds, plan.subscriptions)
            )
            sending = time.monotonic() - started
            wait_for(lambda: ledger_count() >= len(sent), timeout=120, what="every event in the ledger")
        finally:
            for process in workers:
                stop(process)
            web.stop()
        series = ledger_lags()
    lags = sorted(lag for at, lag, _ in series if at >= plan.warmup_seconds)
    return {
        "backend": backend,
        "rate": plan.rate,
        "seconds": plan.seconds,
        "workers": plan.workers,
        "events": len(sent),
        "counted": len(lags),
        "warmup_seconds": plan.warmup_seconds,
        "achieved_rate": round(len(sent) / sending, 1),
        "outcomes": {o: sum(1 for *_, x in series if x == o) for o in {x for *_, x in series}},
        "p50_ms": round(1000 * statistics.median(lags), 1),
        "p95_ms": round(1000 * percentile(lags, 0.95), 1),
        "p99_ms": round(1000 * percentile(lags, 0.99), 1),
        "max_ms": round(1000 * lags[-1], 1),
        "series": [(round(at, 3), round(1000 * lag, 2)) for at, lag, _ in series],
    }


def run_lag(workdir: Path, plan: LagPlan) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(workdir / "redis-lag").start()
    try:
        return [run_one(backend, plan, workdir, redis_server.url) for backend in plan.backends]
    finally:
        redis_server.stop()
