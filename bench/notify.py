"""From webhook received to host app notified: a steady rate of signed events, 2 workers, a receiver.

Real gunicorn takes signed subscription events at a steady rate, round-robin
over the host app's users; each event sets the subscription's quantity to its
sequence number, so a notification says which events it covers. An event's
lag runs from just before its POST to the first verified notification whose
answer includes it (a notification may cover several events of one user).
"""

from __future__ import annotations

import base64
import http.client
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench import events
from bench.apply import fresh_database, start_workers
from bench.procs import Gunicorn, service_env, stop
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from devrun.webhook_receiver import SignedWebhookReceiver
from shared.infra.db import database
from shared.infra.models import User
from stripe_sandbox.signing import signature_header

STRIPE_SECRET = "whsec_bench_notify"
HOST_SECRET = "whsec_" + base64.b64encode(b"bench-host-notification-secret!!").decode()


@dataclass(frozen=True)
class NotifyPlan:
    rate: int = 100  # events per second
    seconds: int = 60
    users: int = 200
    workers: int = 2
    backends: tuple[str, ...] = ("sqlite", "postgres")


QUICK = NotifyPlan(seconds=3, users=20, backends=("sqlite",))


class Receiver(SignedWebhookReceiver):
    """The host app's end: when each user's quantity was first seen in a verified notification."""

    def __init__(self):
        super().__init__(HOST_SECRET)

    @property
    def seen(self) -> dict[str, list[tuple[float, int]]]:
        seen: dict[str, list[tuple[float, int]]] = {}
        with self.lock:
            for got in self.received:
                quantity = (got.notification["access"]["subscription"] or {}).get("quantity") or 0
                seen.setdefault(got.notification["external_id"], []).append((got.arrived, quantity))
        return seen


def add_host_users(count: int) -> None:
    with database.connection_context(), database.atomic():
        User.insert_many(
            [
                {
                    "email": f"u{n}@example.com",
                    "password_hash": "",
                    "external_id": f"host-{n}",
                    "stripe_customer_id": f"cus_N{n:06d}",
                }
                for n in range(count)
            ]
        ).execute()


def post_steadily(port: int, plan: NotifyPlan) -> list[tuple[str, int, float]]:
    """(external id, sequence, monotonic send time) of every event answered 200, at ``plan.rate`` per second."""
    base = int(time.time()) - 1_000_000
    sent, total = [], plan.rate * plan.seconds
    started = time.monotonic()
    for n in range(total):
        user = n % plan.users
        seq = n // plan.users + 1
        sub = events.subscription(f"sub_N{user:06d}", f"cus_N{user:06d}", base, quantity=seq)
        evt = events.event(f"evt_N{n:08d}", "customer.subscription.updated", sub, base + seq)
        body = events.body_of(evt)
        time.sleep(max(0.0, started + n / plan.rate - time.monotonic()))
        at = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {
            "Stripe-Signature": signature_header(body, STRIPE_SECRET, int(time.time())),
            "Content-Type": "application/json",
        }
        conn.request("POST", "/api/webhooks/stripe", body=body, headers=headers)
        if conn.getresponse().status == 200:
            sent.append((f"host-{user}", seq, at))
        conn.close()
    return sent


def lags(sent, receiver: Receiver, timeout: float) -> tuple[list[float], int]:
    """Each event's lag in seconds, and how many were never covered within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _uncovered(sent, receiver.seen):
        time.sleep(0.2)
    found, missing, seen = [], 0, receiver.seen
    for external_id, seq, at in sent:
        arrivals = [arrived for arrived, quantity in seen.get(external_id, []) if quantity >= seq]
        if arrivals:
            found.append(min(arrivals) - at)
        else:
            missing += 1
    return found, missing


def _uncovered(sent, seen: dict[str, list[tuple[float, int]]]) -> bool:
    last: dict[str, int] = {}
    for external_id, seq, _ in sent:
        last[external_id] = max(seq, last.get(external_id, 0))
    return any(max((q for _, q in seen.get(u, [])), default=0) < seq for u, seq in last.items())


def run_one(backend: str, plan: NotifyPlan, workdir: Path, redis_url: str) -> dict:
    receiver = Receiver()
    with fresh_database(backend, workdir, "notify") as url:
        add_host_users(plan.users)
        env = service_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
            HOST_WEBHOOK_URL=receiver.url,
            HOST_WEBHOOK_SECRET=HOST_SECRET,
            LOG_LEVEL="WARNING",
            PROMETHEUS_MULTIPROC_DIR=workdir / f"prometheus-notify-{backend}",
        )
        conn = redis.Redis.from_url(redis_url)
        conn.flushdb()
        web = Gunicorn("portal_service:create_app()", free_port(), 2, env, workdir / f"gunicorn-notify-{backend}.log")
        web.start()
        workers = start_workers(plan.workers, env, workdir, conn, f"notify-{backend}")
        try:
            sent = post_steadily(web.port, plan)
            found, missing = lags(sent, receiver, timeout=60)
        finally:
            for process in workers:
                stop(process)
            web.stop()
            receiver.stop()
    found.sort()
    return {
        "backend": backend,
        "rate": plan.rate,
        "seconds": plan.seconds,
        "users": plan.users,
        "workers": plan.workers,
        "events": len(sent),
        "notifications": sum(len(seen) for seen in receiver.seen.values()),
        "never_notified": missing,
        "unverified": receiver.unverified,
        "p50_ms": round(1000 * statistics.median(found), 1) if found else None,
        "p99_ms": round(1000 * found[min(len(found) - 1, int(0.99 * len(found)))], 1) if found else None,
        "max_ms": round(1000 * found[-1], 1) if found else None,
    }


def run_notify(workdir: Path, plan: NotifyPlan) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(workdir / "redis-notify").start()
    try:
        return [run_one(backend, plan, workdir, redis_server.url) for backend in plan.backends]
    finally:
        redis_server.stop()
