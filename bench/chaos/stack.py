"""The whole service, as production runs it, in processes the suite can hurt.

PostgreSQL (a fresh schema; every connection of the service carries the
application_name ``chaos-<id>``, so the suite only ever terminates its own),
a redis-server of its own with an append-only file (a SIGKILLed Redis comes
back with what it acknowledged), gunicorn with the project's gunicorn.conf.py,
and ``python -m worker`` processes. The suite plays the orchestrator: like
compose's ``restart: unless-stopped``, a worker that exits is started again;
exits the suite did not cause are recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import redis
from redis import Redis

from bench.procs import BIN, Gunicorn, service_env, spawn, started, stop
from devrun.postgres import drop_postgres_schema, postgres_schema_url
from devrun.redis_server import LocalRedis, free_port
from shared.infra import migrations
from shared.infra.db import database, init_database
from shared.infra.redis_conn import as_text
from shared.sync import inbox

WEBHOOK_SECRET = "whsec_chaos_suite_signing_secret"
RESTART_DELAY_SECONDS = 1.0  # an orchestrator does not restart a crashed process in the same instant

# Counts every time an event reaches a settled outcome in a committed
# transaction. The ledger's own ``attempts`` also counts failures, and the
# worker's logs miss what a killed process committed; this cannot miss either.
AUDIT_SQL = """
CREATE TABLE "{schema}".chaos_settled (event_id text NOT NULL, outcome text NOT NULL,
                                       at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION "{schema}".chaos_settled_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.outcome IN ('applied', 'ignored') AND (TG_OP = 'INSERT'
      OR OLD.outcome IS DISTINCT FROM NEW.outcome OR OLD.attempts IS DISTINCT FROM NEW.attempts) THEN
    INSERT INTO "{schema}".chaos_settled (event_id, outcome) VALUES (NEW.id, NEW.outcome);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER chaos_settled_audit AFTER INSERT OR UPDATE ON "{schema}".stripe_event
  FOR EACH ROW EXECUTE FUNCTION "{schema}".chaos_settled_audit();
"""


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    planned_stop: bool = False


@dataclass
class Postgres:
    """The run's schema, the service's URL and the suite's own connections."""

    base_url: str
    run_id: str
    schema: str = ""
    service_url: str = ""  # application_name=chaos-<id>: the connections faults may end

    def create(self) -> Postgres:
        url, self.schema = postgres_schema_url(self.base_url, prefix="chaos")
        self.service_url = f"{url}&application_name={self.app_name}"
        init_database(f"{url}&application_name={self.app_name}-suite")
        with database.connection_context():
            migrations.upgrade()
        with closing(self.admin()) as conn, conn.cursor() as cur:
            cur.execute(AUDIT_SQL.format(schema=self.schema))
        return self

    @property
    def app_name(self) -> str:
        return f"chaos-{self.run_id}"

    def admin(self):
        """A connection of the suite's own, never one a fault ends."""
        conn = psycopg2.connect(self.base_url, application_name=f"{self.app_name}-admin")
        conn.autocommit = True
        return conn

    def terminate_service_connections(self, at_least: int, wait_connected: float = 15.0) -> int:
        """End every connection of the service's, once it has ``at_least`` (or after ``wait_connected``)."""
        with closing(self.admin()) as conn, conn.cursor() as cur:
            deadline = time.monotonic() + wait_connected
            while self._count(cur, "count(*)") < at_least and time.monotonic() < deadline:
                time.sleep(0.05)
            return self._count(cur, "count(pg_terminate_backend(pid))")

    def _count(self, cur, what: str) -> int:
        cur.execute(f"SELECT {what} FROM pg_stat_activity WHERE application_name = %s", (self.app_name,))
        return cur.fetchone()[0]

    def hold_table_lock(self, table: str, seconds: float) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute(f'LOCK TABLE "{self.schema}"."{table}" IN ACCESS EXCLUSIVE MODE')
                time.sleep(seconds)
                cur.execute("ROLLBACK")
        finally:
            conn.close()

    def drop(self) -> None:
        database.close()
        if self.schema:
            drop_postgres_schema(self.base_url, self.schema)


@dataclass
class Stack:
    workdir: Path
    postgres: Postgres
    stripe_api_base: str
    worker_count: int
    extra_env: dict = field(default_factory=dict)
    secret: str = WEBHOOK_SECRET
    _redis: LocalRedis | None = None
    _web: Gunicorn | None = None
    workers: list[Worker] = field(default_factory=list)
    unplanned_exits: list[dict] = field(default_factory=list)
    _started_workers: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _supervising: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._redis = LocalRedis(self.workdir / "redis", append_only=True).start()
        web_workers = int(os.environ.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) * 2)  # gunicorn.conf.py's
        self._web = Gunicorn(
            "portal_service:create_app()", free_port(), web_workers, self.env(), self.workdir / "web.log"
        ).start()
        for _ in range(self.worker_count):
            self.start_worker()
        self._supervising.set()
        threading.Thread(target=self._supervise, name="chaos-orchestrator", daemon=True).start()
        return self

    @property
    def redis(self) -> LocalRedis:
        return started(self._redis, "the stack's Redis")

    @property
    def web(self) -> Gunicorn:
        return started(self._web, "the stack's web")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web.port}"

    def env(self) -> dict:
        return service_env(
            DATABASE_URL=self.postgres.service_url,
            REDIS_URL=self.redis.url,
            STRIPE_API_BASE=self.stripe_api_base,
            STRIPE_WEBHOOK_SECRET=self.secret,
            LOG_LEVEL="INFO",
            **self.extra_env,
        )

    # -- workers, and the orchestrator that restarts them ------------------
    def start_worker(self) -> Worker:
        with self._lock:
            self._started_workers += 1
            name = f"chaos-w{self._started_workers}"
            process = spawn(
                [str(BIN / "python"), "-m", "worker", "--name", name], self.env(), self.workdir / f"{name}.log"
            )
            worker = Worker(name, process)
            self.workers.append(worker)
            return worker

    def live_workers(self) -> list[Worker]:
        with self._lock:
            return [w for w in self.workers if w.process.poll() is None and not w.planned_stop]

    def kill_worker(self, sig: int, wait_busy: float = 5.0) -> tuple[Worker, int]:
        """Signal a worker in the middle of a batch (else, after ``wait_busy``
        seconds, the oldest); returns it and how many deliveries it held.
        The caller starts its replacement."""
        conn = redis.Redis.from_url(self.redis.url, socket_timeout=1)
        started = time.monotonic()
        while True:
            holding = self._pending_by_consumer(conn)
            live = self.live_workers()
            busy = [w for w in live if holding.get(w.name)]
            if busy or (live and time.monotonic() > started + wait_busy):
                worker = (busy or live)[0]
                break
            if time.monotonic() > started + 60:
                raise RuntimeError("no live worker to signal for a minute")
            time.sleep(0.002)
        worker.planned_stop = True
        worker.process.send_signal(sig)
        return worker, holding.get(worker.name, 0)

    @staticmethod
    def _pending_by_consumer(conn: Redis) -> dict[str, int]:  # (`redis` here is the property)
        try:
            summary = conn.xpending(inbox.STREAM_KEY, inbox.GROUP)
        except redis.RedisError:
            return {}
        return {as_text(c["name"]): int(c["pending"]) for c in summary.get("consumers") or []}

    def _supervise(self) -> None:
        while self._supervising.is_set():
            with self._lock:
                exited = [w for w in self.workers if w.process.poll() is not None and not w.planned_stop]
                for worker in exited:
                    worker.planned_stop = True  # handled: restarted once
                    self.unplanned_exits.append(
                        {"worker": worker.name, "exit_code": worker.process.returncode, "at": time.time()}
                    )
            for _ in exited:
                time.sleep(RESTART_DELAY_SECONDS)
                if self._supervising.is_set():
                    self.start_worker()
            time.sleep(0.2)

    # -- Redis ----------------------------------------------------------------
    def kill_redis(self) -> None:
        process = started(self.redis.process, "the stack's Redis")
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def restart_redis(self) -> None:
        """The same port and directory: it loads its append-only file."""
        self.redis.start()

    # -- stopping -------------------------------------------------------------
    def stop(self) -> None:
        self._supervising.clear()
        with self._lock:
            workers = list(self.workers)
        for worker in workers:
            worker.planned_stop = True
            stop(worker.process, timeout=30)
        if self._web and self._web.process:
            self._web.stop()
        if self._redis:
            self._redis.stop()
