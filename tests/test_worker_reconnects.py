"""The worker in-process: a database connection the server dropped is replaced
between units of work (batches and RQ jobs), without a restart.

PostgreSQL only: a SQLite connection is a file handle, there is no server to
drop it (tests/e2e/test_worker_healing.py holds SQLite's lock past its busy
timeout instead)."""

from __future__ import annotations

import os

import psycopg2
import pytest
from rq import Retry

from shared.infra.db import database
from shared.infra.models import StripeEvent, Subscription
from shared.infra.queue import billing_queue
from tests.services import postgres_only
from tests.stripe_fixtures import body_of, event, subscription
from tests.worker_helpers import drain, push


def terminate_own_connection() -> None:
    """End this process's backend from another session, as a restart or failover would."""
    pid = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    admin = psycopg2.connect(os.environ["TEST_DATABASE_URL"])
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()


def created(n: int) -> list[dict]:
    return [event("customer.subscription.created", subscription(), created=100) for _ in range(n)]


@postgres_only
def test_batches_go_on_after_the_connection_was_dropped(db, settings, redis_conn):
    push(redis_conn, *created(3))
    drain(settings, redis_conn)
    terminate_own_connection()
    with pytest.raises(Exception, match=r"server closed the connection|terminating connection"):
        database.execute_sql("SELECT 1")  # the connection really is gone
    push(redis_conn, *created(4))
    drain(settings, redis_conn)  # the first try fails on the dead connection; the next reconnects
    assert StripeEvent.select().count() == 7
    assert Subscription.select().count() == 7


@postgres_only
def test_a_job_retried_after_the_connection_was_dropped_runs_on_a_new_one(db, settings, redis_conn):
    evt = event("customer.subscription.created", subscription(), created=100)
    arg = {"event_id": evt["id"], "body": body_of(evt).decode(), "received_at": 1.0, "delivery_id": "1-0"}
    job = billing_queue(redis_conn).enqueue_call("worker.jobs.apply_event", args=(arg,), retry=Retry(max=1))
    terminate_own_connection()
    drain(settings, redis_conn)
    assert billing_queue(redis_conn).fetch_job(job.id).get_status() == "finished"
    assert StripeEvent.get_by_id(evt["id"]).outcome == "applied"
