"""The service's webhook beside the starter-kit design (verify and apply inside the request) and a bare route.

Four gunicorns side by side, same gunicorn.conf.py and worker count: the
bare Flask route, the service, and bench/inline_app.py's two inline handlers
(this project's applier on one event; the leanest handler). wrk loads each in
turn (the order rotates every round) at each concurrency, with the same
pre-signed events: each names a subscription of its own, so the inline
design applies every one from its snapshot (no Stripe call). Then, on
PostgreSQL, every write transaction is made 20 ms slower (a trigger sleeps
once per transaction that writes the ledger), as a slow or distant database
would: the service's webhook never touches the database, the inline design
waits on it in every request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bench import events
from bench.apply import fresh_database
from bench.ingest import SECRET, IngestPlan, run_wrk, settle, summarize
from bench.procs import Gunicorn, service_env
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from shared.infra.db import database
from shared.infra.models import StripeEvent
from stripe_sandbox.signing import signature_header

TARGETS = ("bare", "webhook", "inline", "lean")
APPS = {
    "bare": "bench.bare_app:app",
    "webhook": "portal_service:create_app()",
    "inline": "bench.inline_app:app",
    "lean": "bench.inline_app:lean_app",
}
# Sleeps once per transaction that writes the ledger (set_config(..., true) lasts until its end).
SLOW_TRIGGER = """
CREATE FUNCTION bench_slow_transaction() RETURNS trigger AS $$
BEGIN
  IF current_setting('bench.slept', true) IS DISTINCT FROM 'yes' THEN
    PERFORM pg_sleep({seconds});
    PERFORM set_config('bench.slept', 'yes', true);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER bench_slow_transaction BEFORE INSERT ON stripe_event
  FOR EACH STATEMENT EXECUTE FUNCTION bench_slow_transaction();
"""


@dataclass(frozen=True)
class InlinePlan:
    workers: int = 4
    concurrencies: tuple[int, ...] = (8, 64)
    seconds: int = 5
    rounds: int = 2
    # (database, ms added to each write transaction)
    setups: tuple[tuple[str, int], ...] = (("sqlite", 0), ("postgres", 0), ("postgres", 20))
    pool_per_second: int = 3000  # sized above the best rate seen


QUICK = InlinePlan(concurrencies=(8,), seconds=1, rounds=1, setups=(("sqlite", 0), ("postgres", 20)))


def write_pool(path: Path, count: int, tag: str) -> None:
    """``count`` signed subscription.updated deliveries, each for a subscription of its own."""
    now = int(time.time())
    with open(path, "wb") as out:
        for n in range(count):
            sub = events.subscription(f"sub_L{tag}{n:07d}", f"cus_L{tag}{n:07d}", now - 86_400)
            evt = events.event(f"evt_L{tag}{n:07d}", "customer.subscription.updated", sub, now, {"quantity": 1})
            body = events.body_of(evt)
            out.write(signature_header(body, SECRET, now).encode() + b"\t" + body + b"\n")


def slow_down(ms: int) -> None:
    with database.connection_context():
        database.execute_sql(SLOW_TRIGGER.format(seconds=ms / 1000))


def applied_count() -> int:
    with database.connection_context():
        return StripeEvent.select().where(StripeEvent.outcome == StripeEvent.APPLIED).count()


class Setup:
    """The three gunicorns of one (database, added latency) and the rounds run against them."""

    def __init__(self, plan: InlinePlan, workdir: Path, env: dict, label: str):
        self.plan, self.workdir, self.label, self.n = plan, workdir, label, 0
        self.servers = {
            target: Gunicorn(APPS[target], free_port(), plan.workers, env, workdir / f"gunicorn-{label}-{target}.log")
            for target in TARGETS
        }  # the two inline handlers share the database: their events' ids differ (tags)

    def round(self, target: str, connections: int, seconds: int) -> dict:
        server, tag = self.servers[target], f"{self.label[:2]}{self.n:03d}"
        self.n += 1
        pool = self.workdir / f"pool-{tag}.txt"
        write_pool(pool, self.plan.pool_per_second * seconds, tag)
        wrk_plan = IngestPlan(connections=connections)
        cpu_before = server.cpu_seconds()
        result = run_wrk(server.port, wrk_plan, pool, seconds)
        result["cpu_ms_per_request"] = 1000 * (server.cpu_seconds() - cpu_before) / max(result["responses"], 1)
        result["load_avg"] = [0, 0]  # summarize() reads it; ingest reports load, this table does not
        pool.unlink()
        return result

    def measure(self, connections: int, conn: redis.Redis) -> dict:
        for target in TARGETS:  # warm-up: imports, first connections; not recorded
            self.round(target, connections, 1)
        rounds: dict[str, list[dict]] = {target: [] for target in TARGETS}
        for n in range(self.plan.rounds):
            order = TARGETS[n % len(TARGETS) :] + TARGETS[: n % len(TARGETS)]
            for target in order:
                rounds[target].append(self.round(target, connections, self.plan.seconds))
        settle(conn)
        report = {target: summarize(results) for target, results in rounds.items()}
        for target in TARGETS[1:]:
            report[target]["of_bare"] = round(report[target]["rps"] / report["bare"]["rps"], 3)
        report["webhook_over_inline"] = round(report["webhook"]["rps"] / report["inline"]["rps"], 2)
        report["webhook_over_lean"] = round(report["webhook"]["rps"] / report["lean"]["rps"], 2)
        return report


def run_setup(backend: str, delay_ms: int, plan: InlinePlan, workdir: Path, redis_url: str) -> dict:
    label = f"{backend}-{delay_ms}ms"
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    with fresh_database(backend, workdir, f"inline-{label}") as url:
        if delay_ms:
            slow_down(delay_ms)
        env = service_env(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            STRIPE_WEBHOOK_SECRET=SECRET,
            LOG_LEVEL="WARNING",
            PROMETHEUS_MULTIPROC_DIR=workdir / f"prometheus-{label}",
        )
        setup = Setup(plan, workdir, env, label)
        try:
            for server in setup.servers.values():
                server.start()
            by_concurrency = {str(c): setup.measure(c, conn) for c in plan.concurrencies}
        finally:
            for server in setup.servers.values():
                if server.process:
                    server.stop()
        # The measured rounds' 2xx (warm-up rounds add more rows): each a ledger row applied in the request.
        inline_2xx = sum(r[t]["requests"] - r[t]["non2xx"] for r in by_concurrency.values() for t in ("inline", "lean"))
        return {
            "backend": backend,
            "delay_ms": delay_ms,
            "concurrency": by_concurrency,
            "inline_applied": applied_count(),
            "inline_2xx_measured": inline_2xx,
        }


def run_inline(workdir: Path, plan: InlinePlan) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(workdir / "redis-inline").start()
    try:
        runs = [run_setup(backend, delay, plan, workdir, redis_server.url) for backend, delay in plan.setups]
    finally:
        redis_server.stop()
    return {"plan": plan.__dict__, "runs": runs}
