"""Memory: steady RSS and PSS of each web and worker process after warm-up, with and without preload_app.

RSS counts every page a process maps, shared or not, so N forked web
workers' RSS add up to more than the machine gives them; PSS divides each
shared page among the processes sharing it (their PSS add up to what they
use together), and USS is what a process alone holds (freed if it exits).
The web is warmed with webhook deliveries (wrk) and page and API requests;
workers with a backlog they apply. Peak (VmHWM) is shown beside: the
high-water mark since start, which an import-time spike would set.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

from bench import mix
from bench.apply import add_users, drain, fill, fresh_database, start_workers
from bench.ingest import SECRET, IngestPlan, run_wrk, write_pool
from bench.procs import ROOT, Gunicorn, peak_rss_mb, service_env, stop
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port

MIB = 1024 * 1024


@dataclass(frozen=True)
class MemoryPlan:
    web_workers: int = 4
    workers: int = 2
    warm_seconds: int = 5
    events: int = 3000  # applied by the workers before they are measured
    backend: str = "sqlite"


QUICK = MemoryPlan(warm_seconds=1, events=300)


def process_memory(pid: int) -> dict:
    """RSS, PSS and USS now, and the peak RSS, in MiB."""
    info = psutil.Process(pid).memory_full_info()
    return {
        "rss": round(info.rss / MIB, 1),
        "pss": round(info.pss / MIB, 1),
        "uss": round(info.uss / MIB, 1),
        "peak_rss": round(peak_rss_mb(pid), 1),
    }


def warm_web(server: Gunicorn, workdir: Path, seconds: int) -> None:
    """Deliveries through every worker, then the pages and API a user and the host app call."""
    pool = workdir / "memory-pool.txt"
    write_pool(pool, 3000 * seconds, "M")
    run_wrk(server.port, IngestPlan(connections=8), pool, seconds)
    pool.unlink()
    for _ in range(20 * server.workers):  # the kernel spreads connections over the workers
        for method, path in (
            ("GET", "/login"),
            ("GET", "/register"),
            ("GET", "/readyz"),  # a database and a Redis query
            ("GET", "/api/v1/openapi.json"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request(method, path)
            answer = conn.getresponse()
            answer.read()
            conn.close()
            if answer.status != 200:
                raise RuntimeError(f"warm-up: {method} {path} answered {answer.status}")


def gunicorn_config(preload: bool, workdir: Path) -> Path:
    """The repo's gunicorn.conf.py, or a copy of it that imports the app in each worker."""
    if preload:
        return ROOT / "gunicorn.conf.py"
    variant = workdir / "gunicorn-no-preload.conf.py"
    variant.write_text((ROOT / "gunicorn.conf.py").read_text() + "\npreload_app = False\n")
    return variant


def measure_web(preload: bool, plan: MemoryPlan, workdir: Path, env: dict) -> dict:
    label = "preload" if preload else "no-preload"
    log = workdir / f"gunicorn-memory-{label}.log"
    config = gunicorn_config(preload, workdir)
    server = Gunicorn("portal_service:create_app()", free_port(), plan.web_workers, env, log, config)
    server.start()
    try:
        warm_web(server, workdir, plan.warm_seconds)
        time.sleep(1)  # let the last requests finish
        pids = server.pids()
        master = process_memory(pids["master"][0])
        workers = [process_memory(pid) for pid in pids["workers"]]
    finally:
        server.stop()
    return {"preload": preload, "master": master, "workers": workers, **totals(master, workers)}


def totals(master: dict, workers: list[dict]) -> dict:
    each = lambda key: round(sum(w[key] for w in workers) / len(workers), 1)  # noqa: E731
    return {
        "worker_mean": {key: each(key) for key in ("rss", "pss", "uss", "peak_rss")},
        "pss_total": round(master["pss"] + sum(w["pss"] for w in workers), 1),
    }


def measure_workers(plan: MemoryPlan, workdir: Path, env: dict, redis_url: str) -> dict:
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    events = mix.build(plan.events)
    add_users(events.users)
    processes = start_workers(plan.workers, env, workdir, conn, "memory")
    try:
        fill(conn, events.deliveries)
        drain(conn, events.unique_ids, 120, processes)
        time.sleep(1)
        workers = [process_memory(p.pid) for p in processes]
        # One worker forks RQ's scheduler: it shares that worker's pages, so count it beside it.
        children = [process_memory(c.pid) for p in processes for c in psutil.Process(p.pid).children()]
    finally:
        for process in processes:
            stop(process)
    return {"workers": workers, "children": children}


def run_memory(workdir: Path, plan: MemoryPlan) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(workdir / "redis-memory").start()
    try:
        with fresh_database(plan.backend, workdir, "memory") as url:
            env = service_env(
                DATABASE_URL=url,
                REDIS_URL=redis_server.url,
                STRIPE_WEBHOOK_SECRET=SECRET,
                LOG_LEVEL="WARNING",
                PROMETHEUS_MULTIPROC_DIR=workdir / "prometheus-memory",
            )
            web = [measure_web(preload, plan, workdir, env) for preload in (False, True)]
            worker = measure_workers(plan, workdir, env, redis_server.url)
    finally:
        redis_server.stop()
    return {"plan": plan.__dict__, "web": web, "worker": worker}
