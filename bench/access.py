"""The access check: GET /api/v1/customers/<id>/access against a bare Flask route, same gunicorn, same load.

On each database, 10,000 host-app users (half of them subscribed) and a key;
the gunicorns run side by side and are loaded in turn (the order rotating each
round), wrk asking for a different user each request. On PostgreSQL the
service runs twice: as deployed (each web process keeps answers' inputs,
evicted by the database's change feed) and with ACCESS_CACHE_SIZE=0 (every
request asks the database). Then POST /api/v1/access/batch with 1,000 ids,
timed one call at a time, and, on PostgreSQL, how long a committed change
takes to show in the answers.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.apply import fresh_database
from bench.ingest import rounds_summary
from bench.procs import ROOT, Gunicorn, service_env
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from shared.accounts import api_keys
from shared.infra.db import database
from shared.infra.models import Subscription, User

LUA = ROOT / "bench" / "wrk_access.lua"


@dataclass(frozen=True)
class AccessPlan:
    users: int = 10_000
    workers: int = 4
    connections: int = 8
    seconds: int = 10
    rounds: int = 5  # per target
    batch_size: int = 1000
    batch_calls: int = 50
    lag_changes: int = 200
    backends: tuple[str, ...] = ("sqlite", "postgres")


QUICK = AccessPlan(users=2000, seconds=2, rounds=1, batch_calls=5, lag_changes=5, backends=("sqlite",))


def populate(users: int) -> str:
    """Host-app users host-0..N-1, the even ones with an active subscription; returns a read key."""
    period_end = int(time.time()) + 30 * 86_400
    with database.connection_context(), database.atomic():
        rows = [
            {
                "email": f"user{n}@example.com",
                "password_hash": "",
                "external_id": f"host-{n}",
                "stripe_customer_id": f"cus_A{n:07d}" if n % 2 == 0 else None,
            }
            for n in range(users)
        ]
        for start in range(0, users, 500):
            User.insert_many(rows[start : start + 500]).execute()
        subs = [
            {
                "id": f"sub_A{n:07d}",
                "customer_id": f"cus_A{n:07d}",
                "status": "active",
                "price_id": "price_pro",
                "product_id": "prod_pro",
                "quantity": 1,
                "current_period_end": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(period_end)),
                "version_created": 1,
            }
            for n in range(0, users, 2)
        ]
        for start in range(0, len(subs), 500):
            Subscription.insert_many(subs[start : start + 500]).execute()
        return api_keys.create("bench", api_keys.READ)[1]


def run_wrk(port: int, plan: AccessPlan, ids_file: Path, key: str, seconds: int) -> dict:
    args = ["wrk", "-t1", f"-c{plan.connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    args += [f"http://127.0.0.1:{port}/", "--", str(ids_file), key]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line[len("BENCH_JSON ") :])
    result["rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    return result


def load_round(server: Gunicorn, plan: AccessPlan, ids_file: Path, key: str, seconds: int) -> dict:
    cpu_before, load_before = server.cpu_seconds(), os.getloadavg()[0]
    result = run_wrk(server.port, plan, ids_file, key, seconds)
    result["cpu_ms_per_request"] = 1000 * (server.cpu_seconds() - cpu_before) / max(result["responses"], 1)
    result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def time_batches(port: int, plan: AccessPlan, key: str) -> dict:
    """Sequential POST /api/v1/access/batch calls of ``batch_size`` ids; milliseconds per call."""
    body = json.dumps({"external_ids": [f"host-{n}" for n in range(plan.batch_size)]})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took, found = [], 0
    for _ in range(plan.batch_calls):
        started = time.perf_counter()
        conn.request("POST", "/api/v1/access/batch", body=body, headers=headers)
        response = conn.getresponse()
        answer = json.loads(response.read())
        took.append(1000 * (time.perf_counter() - started))
        assert response.status == 200, answer
        found = sum(result is not None for result in answer["results"].values())
        conn.close()  # keepalive is 0: gunicorn closes after each answer
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took.sort()
    return {
        "ids": plan.batch_size,
        "found": found,
        "calls": plan.batch_calls,
        "p50_ms": round(statistics.median(took), 1),
        "p99_ms": round(took[min(len(took) - 1, int(0.99 * len(took)))], 1),
        "max_ms": round(took[-1], 1),
    }


def run_one(backend: str, plan: AccessPlan, workdir: Path, redis_url: str) -> dict:
    with fresh_database(backend, workdir, "access") as url:
        init_key = populate(plan.users)
        ids_file = workdir / "ids.txt"
        ids = [f"host-{n}" for n in range(plan.users)]
        ids_file.write_text("\n".join(ids[n * 7919 % plan.users] for n in range(plan.users)) + "\n")
        env = service_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            STRIPE_WEBHOOK_SECRET="whsec_bench_access",
            LOG_LEVEL="INFO",
            PROMETHEUS_MULTIPROC_DIR=workdir / f"prometheus-{backend}",
        )
        app = "portal_service:create_app()"
        servers = {
            "bare": Gunicorn("bench.bare_app:app", free_port(), plan.workers, env, workdir / "gunicorn-bare.log"),
            "access": Gunicorn(app, free_port(), plan.workers, env, workdir / f"gunicorn-{backend}.log"),
        }
        if backend == "postgres":
            uncached = {**env, "ACCESS_CACHE_SIZE": "0"}
            log = workdir / "gunicorn-postgres-uncached.log"
            servers["uncached"] = Gunicorn(app, free_port(), plan.workers, uncached, log)
        try:
            for server in servers.values():
                server.start()
            return _measure(servers, plan, ids_file, init_key, backend)
        finally:
            for server in servers.values():
                if server.process:
                    server.stop()


def _measure(servers: dict, plan: AccessPlan, ids_file: Path, key: str, backend: str) -> dict:
    for server in servers.values():  # warm-up: imports, connections, caches; not recorded
        load_round(server, plan, ids_file, key, plan.seconds)
    targets = list(servers)
    rounds: dict[str, list[dict]] = {target: [] for target in targets}
    for n in range(plan.rounds):
        for target in targets[n % len(targets) :] + targets[: n % len(targets)]:
            rounds[target].append(load_round(servers[target], plan, ids_file, key, plan.seconds))
    report: dict = {"backend": backend, **{target: rounds_summary(results) for target, results in rounds.items()}}
    for target in targets[1:]:
        suffix = "" if target == "access" else f"_{target}"
        report[f"ratio{suffix}"] = round(report[target]["rps"] / report["bare"]["rps"], 3)
        paired = zip(rounds[target], rounds["bare"], strict=True)
        report[f"paired_ratios{suffix}"] = [round(a["rps"] / b["rps"], 3) for a, b in paired]
    report["batch"] = time_batches(servers["access"].port, plan, key)
    if backend == "postgres":
        report["change_lag"] = time_change_lag(servers["access"].port, plan, key)
    return report


def time_change_lag(port: int, plan: AccessPlan, key: str) -> dict:
    """Commit a new email, then ask until an answer shows it: milliseconds, and stale answers seen after that."""
    took, stale_after = [], 0
    for n in range(plan.lag_changes):
        email = f"lag{n}@example.com"
        User.update(email=email).where(User.external_id == "host-0").execute()
        committed = time.perf_counter()
        while _email_of(port, key) != email:
            if time.perf_counter() - committed > 30:
                raise RuntimeError(f"a committed change did not show in the answers within 30 s ({email})")
        took.append(1000 * (time.perf_counter() - committed))
        stale_after += sum(_email_of(port, key) != email for _ in range(plan.workers * 4))
    took.sort()
    return {
        "changes": plan.lag_changes,
        "p50_ms": round(statistics.median(took), 2),
        "p99_ms": round(took[min(len(took) - 1, int(0.99 * len(took)))], 2),
        "max_ms": round(took[-1], 2),
        "stale_answers_after_first_fresh": stale_after,
    }


def _email_of(port: int, key: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/api/v1/customers/host-0/access", headers={"Authorization": f"Bearer {key}"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer["email"]


def run_access(workdir: Path, plan: AccessPlan) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(workdir / "redis-access").start()
    try:
        return [run_one(backend, plan, workdir, redis_server.url) for backend in plan.backends]
    finally:
        redis_server.stop()
