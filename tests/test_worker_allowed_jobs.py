"""Only the project's own job functions run: a job written straight into Redis
naming anything else fails with the reason and nothing it names is imported."""

from __future__ import annotations

import sys

import pytest
from rq import Callback, Retry

from shared.infra.models import Subscription
from shared.infra.queue import billing_queue
from shared.ops import failed_events
from tests.stripe_fixtures import body_of, event, subscription
from tests.worker_helpers import drain


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """A module that leaves a file behind if anything ever imports it."""
    marker = tmp_path / "imported"
    (tmp_path / "healing_probe.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef run(*args):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield marker
    sys.modules.pop("healing_probe", None)


def job_arg(evt: dict) -> dict:
    return {"event_id": evt["id"], "body": body_of(evt).decode(), "received_at": 1.0, "delivery_id": "1-0"}


def refused(redis_conn, job) -> str:
    queue = billing_queue(redis_conn)
    assert job.id in queue.failed_job_registry.get_job_ids()
    return queue.fetch_job(job.id).latest_result().exc_string


def test_a_job_naming_os_system_is_failed_and_never_called(settings, db, redis_conn, tmp_path):
    marker = tmp_path / "pwned"
    job = billing_queue(redis_conn).enqueue_call("os.system", args=(f"touch {marker}",), retry=Retry(max=3))
    drain(settings, redis_conn)
    reason = refused(redis_conn, job)
    assert (
        "RefusedJob: refused to run 'os.system': not one of this project's job functions "
        "(worker.jobs.apply_event, worker.jobs.notify_host)" in reason
    )
    assert not marker.exists()
    assert billing_queue(redis_conn).scheduled_job_registry.get_job_ids() == []  # no retries of it
    [listed] = failed_events.list_failed(redis_conn)  # what `portal-service failed list` shows
    assert (listed.job_id, listed.event_id, listed.ledger) == (job.id, "", None)
    assert listed.error.startswith("worker.allowed_jobs.RefusedJob: refused to run 'os.system'")


def test_a_job_naming_an_unknown_module_is_failed_before_any_import(settings, db, redis_conn, probe_module):
    job = billing_queue(redis_conn).enqueue_call("healing_probe.run")
    missing = billing_queue(redis_conn).enqueue_call("no_such_module_anywhere.run")
    drain(settings, redis_conn)
    assert "refused to run 'healing_probe.run'" in refused(redis_conn, job)
    assert "refused to run 'no_such_module_anywhere.run'" in refused(redis_conn, missing)
    assert not probe_module.exists() and "healing_probe" not in sys.modules


def test_a_project_function_that_is_not_a_job_is_refused(settings, db, redis_conn):
    job = billing_queue(redis_conn).enqueue_call("shared.infra.db.init_database", args=("sqlite:////tmp/elsewhere.db",))
    drain(settings, redis_conn)
    assert "refused to run 'shared.infra.db.init_database'" in refused(redis_conn, job)


def test_an_allowed_job_with_a_foreign_callback_is_refused_whole(settings, db, redis_conn, probe_module):
    sub = subscription()
    envelope = job_arg(event("customer.subscription.created", sub, created=100))
    job = billing_queue(redis_conn).enqueue_call(
        "worker.jobs.apply_event",
        args=(envelope,),
        on_success=Callback("healing_probe.run"),
        on_failure=Callback("healing_probe.run"),
    )
    drain(settings, redis_conn)
    assert "it names a success callback ('healing_probe.run')" in refused(redis_conn, job)
    assert not probe_module.exists()
    assert not Subscription.select().where(Subscription.id == sub["id"]).exists()  # the job itself never ran


def test_the_projects_own_job_still_runs(settings, db, redis_conn):
    sub = subscription()
    envelope = job_arg(event("customer.subscription.created", sub, created=100))
    job = billing_queue(redis_conn).enqueue_call("worker.jobs.apply_event", args=(envelope,))
    drain(settings, redis_conn)
    assert billing_queue(redis_conn).fetch_job(job.id).get_status() == "finished"
    assert Subscription.get_by_id(sub["id"]).status == "active"


def test_a_job_hash_rq_cannot_load_is_taken_off_the_queue(settings, db, redis_conn):
    redis_conn.hset("rq:job:garbage", mapping={"data": b"{}", "status": "no-such-status", "origin": "billing"})
    redis_conn.rpush("rq:queue:billing", "garbage")
    sub = subscription()
    job = billing_queue(redis_conn).enqueue_call(
        "worker.jobs.apply_event", args=(job_arg(event("customer.subscription.created", sub, created=100)),)
    )
    drain(settings, redis_conn)  # the worker goes on to the next job
    assert billing_queue(redis_conn).fetch_job(job.id).get_status() == "finished"
    assert redis_conn.lrange("rq:queue:billing", 0, -1) == []
    assert redis_conn.lrange("rq:queue:billing:intermediate", 0, -1) == []
