"""Thin burst: a burst of thin notifications applied by real workers against a rate-limited sandbox.

The sandbox runs as its own process with ``--rate-limit`` (Stripe's 25
requests/s in test mode) and holds the subscriptions; the workers, with the
service's default limit for a test key (half of Stripe's), fetch what each
notification points at. The notifications are put straight into the inbox
stream (ingest is measured by ``bench ingest``), each subscription's together,
as a change that touches every subscription several times would send them.
The clock starts at the first XADD and stops when the stream is empty and the
ledger holds every notification. Every request the sandbox saw is a fetch (or
a 429 answered to one): its counters give fetches and 429s.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench.apply import drain, fill, fresh_database, ledger_outcomes, rq_leftovers, start_workers
from bench.procs import BIN, base_env, service_env, spawn, stop
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from devrun.waiting import wait_for
from shared.infra.db import database
from shared.infra.models import Subscription


@dataclass(frozen=True)
class ThinPlan:
    notifications: int = 10_000
    subscriptions: int = 2_000
    workers: int = 2
    sandbox_rate: int = 25  # Stripe's test-mode limit
    backend: str = "sqlite"
    timeout: float = 1800


THIN_TYPE = "v1.customer.subscription.updated"
QUICK = ThinPlan(notifications=60, subscriptions=20, timeout=120)


class Sandbox:
    def __init__(self, workdir: Path, rate: int | None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [str(BIN / "python"), "-m", "stripe_sandbox", "--port", str(self.port)]
        args += ["--rate-limit", str(rate)] if rate else []  # None: no limit
        self.process = spawn(args, base_env(), workdir / "sandbox.log")
        wait_for(lambda: self.control("GET", "/_sandbox"), timeout=30, what="the sandbox")

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def subscribe(self, count: int) -> list[str]:
        return [
            self.control("POST", "/_sandbox/subscriptions", {"customer_email": f"b{n}@example.com", "price": "basic"})[
                "subscription"
            ]["id"]
            for n in range(count)
        ]


def notifications(sub_ids: list[str], total: int) -> list[tuple[str, str, bytes]]:
    """``total`` thin deliveries, spread evenly over the subscriptions, each subscription's together."""
    per_sub, created = max(1, total // len(sub_ids)), datetime.now(UTC).isoformat(timespec="milliseconds")
    deliveries = []
    for sub_id in sub_ids:
        for n in range(per_sub):
            event_id = f"evt_thin_bench_{sub_id[4:]}_{n}"
            body = {
                "id": event_id,
                "object": "v2.core.event",
                "type": THIN_TYPE,
                "created": created.replace("+00:00", "Z"),
                "livemode": False,
                "related_object": {"id": sub_id, "type": "subscription", "url": f"/v1/subscriptions/{sub_id}"},
            }
            deliveries.append((event_id, THIN_TYPE, json.dumps(body, separators=(",", ":")).encode()))
    return deliveries[:total]


def stored_active(expected: int) -> bool:
    with database.connection_context():
        return Subscription.select().where(Subscription.status == "active").count() == expected


def run_thin(workdir: Path, plan: ThinPlan) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(workdir / "redis-thin").start()
    sandbox = Sandbox(workdir, plan.sandbox_rate)
    try:
        subs = sandbox.subscribe(plan.subscriptions)
        deliveries = notifications(subs, plan.notifications)
        return _measure(workdir, plan, server.url, sandbox, subs, deliveries)
    finally:
        stop(sandbox.process)
        server.stop()


def _measure(workdir, plan: ThinPlan, redis_url: str, sandbox: Sandbox, subs, deliveries) -> dict:
    conn = redis.Redis.from_url(redis_url)
    with fresh_database(plan.backend, workdir, "thin") as url:
        env = service_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            STRIPE_API_BASE=sandbox.url,
            STRIPE_WEBHOOK_SECRET="whsec_bench",
            LOG_LEVEL="INFO",
        )
        processes = start_workers(plan.workers, env, workdir, conn, "thin")
        try:
            sandbox.control("POST", "/_sandbox/rate_limit", {"per_second": plan.sandbox_rate})  # counts from 0
            started = time.monotonic()
            fill(conn, deliveries)
            seconds = drain(conn, len(deliveries), plan.timeout, processes) - started
        finally:
            for process in processes:
                stop(process)
        seen = sandbox.control("GET", "/_sandbox/rate_limit")
        outcomes = ledger_outcomes()
        return {
            "backend": plan.backend,
            "workers": plan.workers,
            "notifications": len(deliveries),
            "subscriptions": len(subs),
            "sandbox_rate_per_s": plan.sandbox_rate,
            "seconds": round(seconds, 1),
            "notifications_per_s": round(len(deliveries) / seconds, 1),
            "fetches": seen["requests"] - seen["throttled"],
            "fetches_per_s": round((seen["requests"] - seen["throttled"]) / seconds, 1),
            "responses_429": seen["throttled"],
            "ledger": outcomes,
            "all_active": stored_active(len(subs)),
            "rq_leftovers": rq_leftovers(conn),
        }


def thin_table(r: dict) -> str:
    return "\n".join(
        [
            f"Thin burst: {r['notifications']} thin notifications for {r['subscriptions']} subscriptions, "
            f"{r['workers']} workers ({r['backend']}), sandbox answering 429 above {r['sandbox_rate_per_s']} "
            "requests/s, the service's default limit for a test key",
            "",
            "| seconds | notifications/s | fetches | fetches/s | 429s | ledger outcomes | rows current | RQ retries |",
            "|---:|---:|---:|---:|---:|---|---|---:|",
            f"| {r['seconds']} | {r['notifications_per_s']} | {r['fetches']} | {r['fetches_per_s']} "
            f"| {r['responses_429']} | {r['ledger']} | {r['all_active']} | {r['rq_leftovers']} |",
        ]
    )


if __name__ == "__main__":
    result = run_thin(Path(sys.argv[1] if len(sys.argv) > 1 else "var/bench/thin"), ThinPlan())
    print(thin_table(result))
