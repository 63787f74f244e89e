"""Burst: 10,000 deliveries posted to the webhook as fast as it takes them, drained by 1, 2 or 4 workers.

The apply benchmark's mix (bench/mix.py: creations, updates, invoices,
checkouts, unhandled types, 5 % redeliveries), signed, is posted by wrk with
8 connections to real gunicorn (4 processes) while N real workers drain the
inbox; web and workers share the machine, as on a one-box deployment. A
sampler reads the backlog (the inbox stream's length: the workers delete
what they applied) every 100 ms, from the first POST until the stream is
empty and the ledger holds every event. On each database.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench import mix
from bench.apply import add_users, fresh_database, ledger_count, start_workers
from bench.ingest import LUA, SECRET
from bench.procs import Gunicorn, service_env, stop
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from devrun.waiting import wait_for
from shared.sync import inbox
from stripe_sandbox.signing import signature_header


@dataclass(frozen=True)
class BurstPlan:
    deliveries: int = 10_000
    workers: tuple[int, ...] = (1, 2, 4)
    connections: int = 8
    web_workers: int = 4
    backends: tuple[str, ...] = ("sqlite", "postgres")
    timeout: float = 300


QUICK = BurstPlan(deliveries=400, workers=(1, 2), backends=("sqlite",), timeout=60)


def write_pool(path: Path, deliveries) -> None:
    now = int(time.time())
    with open(path, "wb") as out:
        for _, _, body in deliveries:
            out.write(signature_header(body, SECRET, now).encode() + b"\t" + body + b"\n")


class Sampler:
    """The stream's length every ``interval`` seconds, on a thread, until stopped."""

    def __init__(self, conn: redis.Redis, interval: float = 0.1):
        self.conn, self.interval = conn, interval
        self.points: list[tuple[float, int]] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def _sample(self) -> None:
        self.points.append((round(time.monotonic() - self.started, 2), self.conn.xlen(inbox.STREAM_KEY)))

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join()
        self._sample()  # the drained end, however the last interval fell
        return self.points


def post_all(port: int, pool: Path, connections: int, timeout: float) -> str:
    """wrk's output once every line of ``pool`` was answered (wrk itself only stops on a clock or SIGINT)."""
    done = pool.with_suffix(".done")
    done.unlink(missing_ok=True)
    args = ["wrk", "-t1", f"-c{connections}", f"-d{int(timeout)}s", "--timeout", "10s", "-s", str(LUA)]
    args += [f"http://127.0.0.1:{port}/api/webhooks/stripe", "--", str(pool), "1", str(done)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as wrk:
        wait_for(lambda: done.exists() or wrk.poll() is not None, timeout=timeout + 10, what="wrk to post the burst")
        wrk.send_signal(signal.SIGINT)  # wrk stops and prints its summary
        out, _ = wrk.communicate(timeout=30)
    return out


def wrk_summary(out: str) -> dict:
    import json

    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    return json.loads(line[len("BENCH_JSON ") :])


def run_one(backend: str, workers: int, events: mix.Mix, plan: BurstPlan, workdir: Path, redis_url: str) -> dict:
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    pool = workdir / "burst-pool.txt"
    write_pool(pool, events.deliveries)
    with fresh_database(backend, workdir, f"burst-{workers}") as url:
        add_users(events.users)
        env = service_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            STRIPE_WEBHOOK_SECRET=SECRET,
            LOG_LEVEL="WARNING",
            PROMETHEUS_MULTIPROC_DIR=workdir / f"prometheus-burst-{workers}",
        )
        web = Gunicorn(
            "portal_service:create_app()", free_port(), plan.web_workers, env, workdir / f"gunicorn-burst-{workers}.log"
        )
        web.start()
        processes = start_workers(workers, env, workdir, conn, f"burst-{workers}")
        try:
            sampler = Sampler(conn)
            posted = wrk_summary(post_all(web.port, pool, plan.connections, plan.timeout))
            accepted_s = time.monotonic() - sampler.started
            drained_s = wait_drained(conn, events.unique_ids, plan.timeout) - sampler.started
            backlog = sampler.stop()
        finally:
            for process in processes:
                stop(process)
            web.stop()
            pool.unlink()
        in_ledger = ledger_count()
    return {
        "backend": backend,
        "workers": workers,
        "deliveries": len(events.deliveries),
        "unique_events": events.unique_ids,
        "posted": {key: posted[key] for key in ("requests", "non2xx", "repeats", "p50_us", "p99_us")},
        "accepted_s": round(accepted_s, 2),
        "accept_rate": round(posted["requests"] / accepted_s, 1),
        "drained_s": round(drained_s, 2),
        "peak_backlog": max(depth for _, depth in backlog),
        "in_ledger": in_ledger,
        "backlog": backlog,
    }


def wait_drained(conn: redis.Redis, expected: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.xlen(inbox.STREAM_KEY) == 0 and ledger_count() >= expected:
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"burst not drained within {timeout}s: {conn.xlen(inbox.STREAM_KEY)} in the stream")


def run_burst(workdir: Path, plan: BurstPlan) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    events = mix.build(plan.deliveries)
    redis_server = RedisServer(workdir / "redis-burst").start()
    try:
        return [
            run_one(backend, n, events, plan, workdir, redis_server.url)
            for backend in plan.backends
            for n in plan.workers
        ]
    finally:
        redis_server.stop()
