"""The worker against a real Redis: batches, hand-off of failures to RQ, recovery."""

from __future__ import annotations

import dataclasses

from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from shared.accounts.users import create_user
from shared.infra.models import StripeEvent, Subscription, User
from shared.infra.queue import QUEUE_NAME
from shared.sync import inbox
from tests.settings_helpers import TEST_PASSWORDS
from tests.stripe_fixtures import checkout_session, event, subscription
from tests.worker_helpers import drain, push


def queue(redis_conn) -> Queue:
    return Queue(QUEUE_NAME, connection=redis_conn, serializer=JSONSerializer)


def test_queued_deliveries_are_applied_and_removed_from_the_stream(settings, db, redis_conn):
    subs = [subscription() for _ in range(5)]
    push(redis_conn, *[event("customer.subscription.created", s, created=100) for s in subs])
    drain(settings, redis_conn)
    assert Subscription.select().count() == 5
    assert inbox.depth(redis_conn) == 0
    assert redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"] == 0


def test_batches_smaller_than_the_backlog_drain_it_all(settings, db, redis_conn):
    small = dataclasses.replace(settings, worker_batch_size=3)
    push(redis_conn, *[event("customer.subscription.created", subscription(), created=100) for _ in range(10)])
    drain(small, redis_conn)
    assert Subscription.select().count() == 10


def test_a_failing_event_is_handed_to_rq_with_retries(settings, db, redis_conn):
    evt = event("checkout.session.completed", checkout_session(customer="cus_Q", email="later@example.com"))
    push(redis_conn, evt)
    drain(settings, redis_conn)
    assert inbox.depth(redis_conn) == 0  # acknowledged: its retry now lives in RQ
    scheduled = ScheduledJobRegistry(queue=queue(redis_conn))
    [job_id] = scheduled.get_job_ids()
    job = queue(redis_conn).fetch_job(job_id)
    assert job.func_name == "worker.jobs.apply_event"
    assert job.retries_left == settings.worker_max_retries - 1  # tried once by RQ already
    entry = StripeEvent.get_by_id(evt["id"])
    assert (entry.outcome, entry.attempts) == ("failed", 2)
    assert "names no known user" in entry.error


def test_final_failure_stays_visible_and_can_be_requeued(settings, db, redis_conn):
    no_retries = dataclasses.replace(settings, worker_max_retries=0)
    evt = event("checkout.session.completed", checkout_session(customer="cus_R", email="fixme@example.com"))
    push(redis_conn, evt)
    drain(no_retries, redis_conn)
    failed = FailedJobRegistry(queue=queue(redis_conn))
    [job_id] = failed.get_job_ids()
    assert "names no known user" in queue(redis_conn).fetch_job(job_id).latest_result().exc_string

    user = create_user("fixme@example.com", "correct horse", TEST_PASSWORDS)  # the operator fixes the cause
    failed.requeue(job_id)
    drain(no_retries, redis_conn)
    assert User.get_by_id(user.id).stripe_customer_id == "cus_R"
    assert StripeEvent.get_by_id(evt["id"]).outcome == "applied"
    assert failed.get_job_ids() == []


def test_deliveries_of_a_worker_that_died_are_claimed_by_another(settings, db, redis_conn):
    subs = [subscription() for _ in range(3)]
    push(redis_conn, *[event("customer.subscription.created", s, created=100) for s in subs])
    inbox.ensure_group(redis_conn)
    taken = redis_conn.xreadgroup(inbox.GROUP, "worker-that-died", {inbox.STREAM_KEY: ">"}, count=10)
    assert len(taken[0][1]) == 3  # read, never acknowledged: the worker was killed

    impatient = dataclasses.replace(settings, worker_claim_idle_seconds=0)
    drain(impatient, redis_conn)
    assert Subscription.select().count() == 3
    assert redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"] == 0


def test_jobs_are_json_not_pickle(settings, db, redis_conn):
    evt = event("checkout.session.completed", checkout_session(customer="cus_J", email="nobody@example.com"))
    push(redis_conn, evt)
    drain(settings, redis_conn)
    [job_id] = ScheduledJobRegistry(queue=queue(redis_conn)).get_job_ids()
    raw = redis_conn.hget(f"rq:job:{job_id}", "data")
    assert raw.startswith((b"{", b"[")) or raw[:2] == b"x\x9c"  # JSON (maybe zlib'd)
    import json
    import zlib

    text = zlib.decompress(raw) if raw[:2] == b"x\x9c" else raw
    assert json.loads(text)  # parses as JSON: no pickle anywhere
