"""Ingest: the webhook endpoint against a bare Flask route, same gunicorn, same load.

Both gunicorns run side by side on loopback and are loaded in turn (ABBA
order, so neither always goes first on a noisy box). wrk posts pre-signed,
unique ~3 KB events; afterwards the stream must hold exactly the deliveries
that were answered 2xx plus those still in flight when wrk stopped.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

from bench import events
from bench.procs import ROOT, Gunicorn, service_env
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from shared.sync import inbox
from stripe_sandbox.signing import signature_header

SECRET = "whsec_bench_ingest"
LUA = ROOT / "bench" / "wrk_bodies.lua"
URL_PATH = "/api/webhooks/stripe"


@dataclass(frozen=True)
class IngestPlan:
    workers: int = 4
    connections: int = 8
    seconds: int = 10
    rounds: int = 3  # per target
    pool_per_second: int = 4000  # pre-signed events per second of load; sized above the best rate seen


QUICK = IngestPlan(seconds=2, rounds=1)


def write_pool(path: Path, count: int, tag: str) -> list[str]:
    """``count`` signed subscription.updated deliveries, one per line; returns their ids."""
    now = int(time.time())
    ids = []
    with open(path, "wb") as out:
        for n in range(count):
            sub_id, customer = f"sub_I{n % 2000:07d}", f"cus_I{n % 2000:07d}"
            evt = events.event(
                f"evt_I{tag}{n:07d}",
                "customer.subscription.updated",
                events.subscription(sub_id, customer, now - 86_400),
                now,
                {"quantity": 1},
            )
            body = events.body_of(evt)
            out.write(signature_header(body, SECRET, now).encode() + b"\t" + body + b"\n")
            ids.append(evt["id"])
    return ids


def run_wrk(port: int, plan: IngestPlan, pool: Path, seconds: int) -> dict:
    args = [
        "wrk",
        "-t1",
        f"-c{plan.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}{URL_PATH}",
        "--",
        str(pool),
        "1",
    ]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line[len("BENCH_JSON ") :])
    result["rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    return result


def stream_ids_after(conn: redis.Redis, last_id: str) -> tuple[list[str], str]:
    """Event ids of the entries added after ``last_id``, and the newest entry id."""
    ids: list[str] = []
    while True:
        # redis-py types entries loosely (str or bytes, ids optional); this client answers bytes.
        batch = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]", conn.xrange(inbox.STREAM_KEY, min=f"({last_id}", count=2000)
        )
        if not batch:
            return ids, last_id
        ids += [fields[b"id"].decode() for _, fields in batch]
        last_id = batch[-1][0].decode()


def settle(conn: redis.Redis) -> int:
    """The stream length once requests still inside gunicorn have finished."""
    length = -1
    while length != (length := conn.xlen(inbox.STREAM_KEY)):
        time.sleep(0.5)
    return length


def check_stream(result: dict, pool_ids: list[str], new_ids: list[str]) -> dict:
    """Every 2xx is in the stream, and nothing else is but requests cut off in flight.

    wrk sends pool lines in order (one thread), so every entry must be one of
    the first ``sent`` events, each at most once.
    """
    accepted = result["responses"] - result["non2xx"]
    in_flight = result["sent"] - result["responses"]  # sent, never answered: wrk stopped first
    sent_ids = set(pool_ids[: result["sent"]])
    unique = len(set(new_ids)) == len(new_ids)
    return {
        "accepted_2xx": accepted,
        "in_flight_at_cutoff": in_flight,
        "stream_entries": len(new_ids),
        "ok": accepted <= len(new_ids) <= accepted + in_flight and unique and set(new_ids) <= sent_ids,
    }


def load_round(target: str, server: Gunicorn, plan, workdir, conn, seconds, state) -> dict:
    pool = workdir / f"pool-{target}-{state['n']}.txt"
    ids = write_pool(pool, plan.pool_per_second * seconds, f"{state['n']:02d}")
    cpu_before, load_before = server.cpu_seconds(), os.getloadavg()[0]
    result = run_wrk(server.port, plan, pool, seconds)
    # Server CPU per answered request: unlike req/s, it barely moves when
    # other tenants of a shared box take cores away.
    result["cpu_ms_per_request"] = 1000 * (server.cpu_seconds() - cpu_before) / max(result["responses"], 1)
    result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    pool.unlink()
    if target == "webhook":
        settle(conn)
        new_ids, state["last_id"] = stream_ids_after(conn, state["last_id"])
        result["stream"] = check_stream(result, ids, new_ids)
    state["n"] += 1
    return result


def summarize(rounds: list[dict]) -> dict:
    return {**rounds_summary(rounds), "repeats": sum(r["repeats"] for r in rounds)}


def rounds_summary(rounds: list[dict]) -> dict:
    """The median round of wrk runs (bench/wrk_*.lua's BENCH_JSON, with rps, CPU and load added), and totals."""
    median = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
    return {
        "rps": round(median("rps"), 1),
        "p50_ms": round(median("p50_us") / 1000, 2),
        "p99_ms": round(median("p99_us") / 1000, 2),
        "cpu_ms_per_request": round(median("cpu_ms_per_request"), 3),
        "requests": sum(r["requests"] for r in rounds),
        "non2xx": sum(r["non2xx"] for r in rounds),
        "socket_errors": sum(
            r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"] for r in rounds
        ),
        "rounds_rps": [r["rps"] for r in rounds],
        "rounds_load_avg": [r["load_avg"] for r in rounds],
    }


def run_ingest(workdir: Path, plan: IngestPlan) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(workdir / "redis-ingest").start()
    env = service_env(
        DATABASE_URL=f"sqlite:///{workdir / 'ingest.db'}",
        REDIS_URL=redis_server.url,
        STRIPE_WEBHOOK_SECRET=SECRET,
        LOG_LEVEL="INFO",
        # as docker-compose runs the web: metrics shared by the gunicorn workers
        PROMETHEUS_MULTIPROC_DIR=workdir / "prometheus",
    )
    servers = {
        "bare": Gunicorn("bench.bare_app:app", free_port(), plan.workers, env, workdir / "gunicorn-bare.log"),
        "webhook": Gunicorn(
            "portal_service:create_app()", free_port(), plan.workers, env, workdir / "gunicorn-webhook.log"
        ),
    }
    try:
        for server in servers.values():
            server.start()
        return _measure(servers, plan, workdir, redis.Redis.from_url(redis_server.url))
    finally:
        for server in servers.values():
            if server.process:
                server.stop()
        redis_server.stop()


def _measure(servers, plan, workdir, conn) -> dict:
    state = {"n": 0, "last_id": "0-0"}
    for target, server in servers.items():  # warm-up: imports, first connections; not recorded
        load_round(target, server, plan, workdir, conn, 1, state)
    rounds: dict[str, list[dict]] = {"bare": [], "webhook": []}
    for n in range(plan.rounds):
        order = ["bare", "webhook"] if n % 2 == 0 else ["webhook", "bare"]
        for target in order:
            rounds[target].append(load_round(target, servers[target], plan, workdir, conn, plan.seconds, state))
    report: dict[str, Any] = {target: summarize(results) for target, results in rounds.items()}
    report["ratio"] = round(report["webhook"]["rps"] / report["bare"]["rps"], 3)
    report["cpu_ratio"] = round(report["bare"]["cpu_ms_per_request"] / report["webhook"]["cpu_ms_per_request"], 3)
    report["paired_ratios"] = [
        round(w["rps"] / b["rps"], 3) for w, b in zip(rounds["webhook"], rounds["bare"], strict=True)
    ]
    report["stream_checks"] = [r["stream"] for r in rounds["webhook"]]
    report["stream_ok"] = all(check["ok"] for check in report["stream_checks"])
    report["peak_rss"] = {target: server.peak_rss() for target, server in servers.items()}
    report["plan"] = plan.__dict__
    return report
