"""End to end: real gunicorn and real worker processes, signed events over HTTP."""

from __future__ import annotations

import signal

import pytest

from shared.infra.db import database, init_database
from shared.infra.models import StripeEvent, Subscription
from shared.sync import inbox
from tests.processes import post, run_cli, running, service_env, start_web, start_worker
from tests.services import wait_for
from tests.settings_helpers import WEBHOOK_SECRET, make_settings
from tests.stripe_fixtures import body_of, event, sign, subscription
from tests.worker_helpers import push


@pytest.fixture
def stack_env(db_url, redis_url, redis_conn, tmp_path):
    settings = make_settings(db_url, redis_url)
    env = service_env(settings, WORKER_CLAIM_IDLE_SECONDS=2)
    result = run_cli(env, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "schema at version" in result.stdout
    init_database(db_url)
    database.connect(reuse_if_open=True)
    yield env
    database.close()


def count(model) -> int:
    return model.select().count()


def test_signed_events_posted_to_gunicorn_reach_the_database(stack_env, tmp_path):
    web, url = start_web(stack_env, tmp_path)
    worker = start_worker(stack_env, tmp_path)
    try:
        sub = subscription(status="incomplete")
        history = [
            event("customer.subscription.created", sub, created=100),
            event("customer.subscription.updated", {**sub, "status": "active"}, created=101),
        ]
        for evt in reversed(history):  # delivered out of order, and twice
            for _ in range(2):
                body = body_of(evt)
                status = post(
                    url + "/api/webhooks/stripe",
                    body,
                    {"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"},
                )
                assert status == 200
        wait_for(lambda: count(StripeEvent) == 2, timeout=30, what="both events in the ledger")
        assert Subscription.get_by_id(sub["id"]).status == "active"
        refused = post(url + "/api/webhooks/stripe", b"{}", {"Stripe-Signature": "t=1,v1=00"})
        assert refused == 400
    finally:
        worker.stop()
        web.stop()
    assert worker.popen.returncode == 0, worker.output()


def test_sigterm_finishes_the_current_batch_then_exits(stack_env, redis_conn, tmp_path):
    total = 3000
    push(redis_conn, *[event("customer.subscription.created", subscription(), created=100) for _ in range(total)])
    worker = start_worker(stack_env, tmp_path)
    wait_for(lambda: count(StripeEvent) > 0, timeout=60, what="the worker to start applying")
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.output()
    applied = count(StripeEvent)
    pending = redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"]
    assert pending == 0, "a batch was left half-done"
    assert applied + inbox.depth(redis_conn) == total  # every event either applied or still queued

    second = start_worker(stack_env, tmp_path, name="worker2")
    try:
        wait_for(lambda: count(StripeEvent) == total, timeout=120, what="the rest to be applied")
    finally:
        second.stop()


def test_a_killed_worker_loses_nothing(stack_env, redis_conn, tmp_path):
    total = 4000
    push(redis_conn, *[event("customer.subscription.created", subscription(), created=100) for _ in range(total)])
    in_flight = lambda: redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"]  # noqa: E731
    for attempt in range(5):  # a kill can land between two batches: then another victim is started
        # Large batches keep one in flight long enough to be killed in the middle of it.
        victim = start_worker({**stack_env, "WORKER_BATCH_SIZE": "1000"}, tmp_path, name=f"victim-{attempt}")
        wait_for(
            lambda: count(StripeEvent) > 0 and in_flight() > 0,
            timeout=60,
            interval=0.001,
            what="the worker to be in the middle of a batch",
        )
        victim.signal(signal.SIGKILL)
        victim.wait(10)
        if in_flight() > 0:
            break
    assert in_flight() > 0  # a victim died holding a batch: recovery is really exercised
    survivor = start_worker(stack_env, tmp_path, name="survivor")
    try:
        wait_for(lambda: count(StripeEvent) == total, timeout=120, what="every event applied after the kill")
        wait_for(
            lambda: redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"] == 0,
            timeout=30,
            what="the victim's batch to be claimed and acknowledged",
        )
    finally:
        survivor.stop()
    assert count(Subscription) == total


def test_a_killed_workers_scheduler_does_not_outlive_it(stack_env, redis_conn, tmp_path):
    """RQ forks the scheduler; SIGKILL on the worker must not leave it running on, holding the lock."""
    lock = "rq:scheduler-lock:billing"
    worker = start_worker(stack_env, tmp_path)
    wait_for(
        lambda: redis_conn.exists(lock) and redis_conn.keys("rq:scheduler:*"),
        timeout=30,
        what="the worker's scheduler to start and take the lock",
    )
    [scheduler_key] = redis_conn.keys("rq:scheduler:*")
    scheduler_pid = int(redis_conn.hget(scheduler_key, "pid"))
    assert scheduler_pid != worker.popen.pid
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    wait_for(
        lambda: not redis_conn.exists(lock, scheduler_key),
        timeout=30,
        what="the orphaned scheduler to release its lock and deregister",
    )
    wait_for(lambda: not running(scheduler_pid), timeout=10, what="the scheduler process to exit")
    worker.stop()
