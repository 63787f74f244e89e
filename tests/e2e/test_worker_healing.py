"""End to end: a real `python -m worker` outlives its database and Redis going
away, and `python -m worker --healthcheck` says so while they are away."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from urllib.parse import urlparse

import psycopg2
import pytest

from devrun.redis_server import LocalRedis
from shared.infra.db import database, init_database
from shared.infra.models import StripeEvent
from shared.sync import inbox
from tests.processes import ROOT, post, run_cli, running, service_env, start_web, start_worker
from tests.services import TcpProxy, postgres_only, wait_for
from tests.settings_helpers import WEBHOOK_SECRET, make_settings
from tests.stripe_fixtures import body_of, event, sign, subscription
from tests.worker_helpers import push

APPLIED_IN_TIME = 60  # generous: the machine is shared; the waits end as soon as the condition holds


def created(n: int) -> list[dict]:
    return [event("customer.subscription.created", subscription(), created=100) for _ in range(n)]


def applied() -> int:
    return StripeEvent.select().count()


def healthcheck(env: dict) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--healthcheck"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout.strip()


def until_health(env: dict, code: int, timeout: float = 30) -> str:
    """Poll the real health check until it exits with ``code``; its last line."""
    seen = {}

    def check():
        seen["code"], seen["out"] = healthcheck(env)
        return seen["code"] == code

    wait_for(check, timeout=timeout, interval=0.2, what=f"the health check to exit {code} (last: {seen})")
    return seen["out"]


def migrated_env(db_url: str, redis_url: str, **extra) -> dict:
    env = service_env(make_settings(db_url, redis_url), **extra)
    result = run_cli(env, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture
def own_db(db_url):
    """The test's own connection to the worker's database, for counting rows and holding locks."""
    init_database(db_url)
    yield db_url
    database.close()


@contextlib.contextmanager
def running_worker(env: dict, tmp_path, name: str = "worker"):
    worker = start_worker(env, tmp_path, name=name)
    try:
        yield worker
        assert worker.popen.poll() is None, "the worker exited:\n" + worker.output()
    finally:
        worker.stop()


def with_query(url: str, **params) -> str:
    extra = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


@postgres_only
def test_worker_heals_after_its_postgres_connections_are_terminated(own_db, redis_url, redis_conn, tmp_path):
    app_name = f"healing_{uuid.uuid4().hex[:10]}"
    env = migrated_env(with_query(own_db, application_name=app_name), redis_url)
    with running_worker(env, tmp_path):
        push(redis_conn, *created(5))
        wait_for(lambda: applied() == 5, timeout=APPLIED_IN_TIME, what="the first events applied")
        admin = psycopg2.connect(os.environ["TEST_DATABASE_URL"])
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (app_name,)
            )
            assert cur.fetchall(), "the worker held no connection to terminate"
        admin.close()
        web, url = start_web(env, tmp_path)
        try:
            for evt in created(5):  # posted to the real web, signed, as Stripe would
                body = body_of(evt)
                assert (
                    post(
                        url + "/api/webhooks/stripe",
                        body,
                        {"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"},
                    )
                    == 200
                )
        finally:
            web.stop()
        wait_for(lambda: applied() == 10, timeout=APPLIED_IN_TIME, what="events posted after the drop applied")
        assert until_health(env, 0) == "healthy"


@postgres_only
def test_health_fails_while_the_database_is_unreachable_and_passes_after(own_db, redis_url, redis_conn, tmp_path):
    server = urlparse(os.environ["TEST_DATABASE_URL"])
    proxy = TcpProxy(server.hostname, server.port or 5432).start()
    try:
        user, at, _ = server.netloc.rpartition("@")
        via_proxy = own_db.replace(server.netloc, f"{user}{at}127.0.0.1:{proxy.port}", 1)
        env = migrated_env(via_proxy, redis_url, WORKER_STALL_SECONDS=120)
        with running_worker(env, tmp_path):
            push(redis_conn, *created(3))
            wait_for(lambda: applied() == 3, timeout=APPLIED_IN_TIME, what="the first events applied")
            assert until_health(env, 0) == "healthy"

            proxy.stop()  # the server restarts: connections dropped, new ones refused
            push(redis_conn, *created(3))
            assert until_health(env, 1) == "unhealthy: database unavailable (OperationalError)"
            assert applied() == 3

            proxy.start()  # back, on the same address
            wait_for(lambda: applied() == 6, timeout=APPLIED_IN_TIME, what="events posted while it was down")
            assert until_health(env, 0) == "healthy"
    finally:
        proxy.stop()


@contextlib.contextmanager
def ledger_locked(db_url: str):
    """Hold a lock on the ledger that keeps every worker from writing it."""
    if db_url.startswith("postgres"):
        with database.atomic():
            database.execute_sql("LOCK TABLE stripe_event IN ACCESS EXCLUSIVE MODE")
            yield
    else:
        with database.atomic("EXCLUSIVE"):  # SQLite: the write lock, held past the worker's busy timeout
            yield


def test_a_stalled_worker_fails_the_health_check_until_it_progresses(own_db, redis_url, redis_conn, tmp_path):
    env = migrated_env(own_db, redis_url, WORKER_STALL_SECONDS=2)
    with running_worker(env, tmp_path):
        push(redis_conn, *created(2))
        wait_for(lambda: applied() == 2, timeout=APPLIED_IN_TIME, what="the first events applied")
        assert until_health(env, 0) == "healthy"
        with ledger_locked(own_db):
            push(redis_conn, *created(3))
            assert "has made no progress for" in until_health(env, 1)
        wait_for(lambda: applied() == 5, timeout=APPLIED_IN_TIME, what="the backlog applied once the lock is gone")
        assert until_health(env, 0) == "healthy"


def test_worker_outlives_a_redis_restart(own_db, tmp_path):
    redis_server = LocalRedis(tmp_path / "redis", append_only=True).start()  # as in production
    conn = redis_server_client(redis_server)
    try:
        env = migrated_env(own_db, redis_server.url)
        with running_worker(env, tmp_path) as worker:
            push(conn, *created(3))
            wait_for(lambda: applied() == 3, timeout=APPLIED_IN_TIME, what="the first events applied")
            old_scheduler = wait_for(lambda: scheduler_pid(conn), timeout=30, what="RQ's scheduler to start")

            redis_server.process.send_signal(signal.SIGKILL)
            redis_server.process.wait(10)
            wait_for(lambda: "Redis is unavailable" in worker.output(), timeout=30, what="the worker to notice")
            assert until_health(env, 1) == "unhealthy: redis unavailable (ConnectionError)"
            # RQ's scheduler outlives a blip (the client retries for about 1.5 s), not a longer outage.
            wait_for(lambda: not running(old_scheduler), timeout=30, what="RQ's scheduler to give up on Redis")
            redis_server.start()  # same port, same append-only file

            push(conn, *created(3))
            wait_for(lambda: applied() == 6, timeout=APPLIED_IN_TIME, what="events posted after the restart")
            assert until_health(env, 0) == "healthy"
            new_scheduler = wait_for(
                lambda: alive_scheduler_pid(conn, other_than=old_scheduler),
                timeout=30,
                what="RQ's scheduler running again",
            )
            assert new_scheduler != worker.popen.pid
    finally:
        redis_server.stop()


def test_a_worker_started_while_redis_is_down_waits_for_it(own_db, tmp_path):
    redis_server = LocalRedis(tmp_path / "redis", append_only=True)
    try:
        env = migrated_env(own_db, redis_server.url)
        with running_worker(env, tmp_path) as worker:
            wait_for(
                lambda: "Redis is unavailable at start" in worker.output(),
                timeout=30,
                what="the worker to wait for Redis",
            )
            redis_server.start()
            conn = redis_server_client(redis_server)
            push(conn, *created(3))
            wait_for(lambda: applied() == 3, timeout=APPLIED_IN_TIME, what="events posted once Redis is up")
    finally:
        redis_server.stop()


def test_sigterm_while_redis_is_down_still_stops_the_worker(own_db, tmp_path):
    redis_server = LocalRedis(tmp_path / "redis").start()
    try:
        env = migrated_env(own_db, redis_server.url)
        worker = start_worker(env, tmp_path)
        try:
            push(redis_server_client(redis_server), *created(1))
            wait_for(lambda: applied() == 1, timeout=APPLIED_IN_TIME, what="the worker to start applying")
            redis_server.process.send_signal(signal.SIGKILL)
            redis_server.process.wait(10)
            wait_for(lambda: "Redis is unavailable" in worker.output(), timeout=30, what="the worker to notice")
            worker.signal(signal.SIGTERM)
            assert worker.wait(30) == 0, worker.output()
        finally:
            worker.stop()
    finally:
        redis_server.stop()


def test_worker_recreates_a_deleted_consumer_group_and_stream(own_db, redis_url, redis_conn, tmp_path):
    env = migrated_env(own_db, redis_url)
    with running_worker(env, tmp_path) as worker:
        push(redis_conn, *created(2))
        wait_for(lambda: applied() == 2, timeout=APPLIED_IN_TIME, what="the first events applied")
        redis_conn.xgroup_destroy(inbox.STREAM_KEY, inbox.GROUP)
        push(redis_conn, *created(2))
        wait_for(lambda: applied() == 4, timeout=APPLIED_IN_TIME, what="events after the group was deleted")
        redis_conn.delete(inbox.STREAM_KEY)
        push(redis_conn, *created(2))
        wait_for(lambda: applied() == 6, timeout=APPLIED_IN_TIME, what="events after the stream was deleted")
        assert "creating it again" in worker.output()


def redis_server_client(server: LocalRedis):
    import redis

    return redis.Redis.from_url(server.url, retry_on_timeout=True)


def scheduler_pid(conn) -> int | None:
    for key in conn.keys("rq:scheduler:*"):
        pid = conn.hget(key, "pid")
        if pid and running(int(pid)):
            return int(pid)
    return None


def alive_scheduler_pid(conn, other_than: int) -> int | None:
    pid = scheduler_pid(conn)
    return pid if pid and pid != other_than else None
