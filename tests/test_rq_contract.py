"""What worker/billing_worker.py and worker/allowed_jobs.py rely on in RQ's internals.

They override methods RQ does not document as extension points and read its
private attributes, so pyproject.toml pins RQ to the minor version tested. When
that pin is raised, these tests say by name what a new RQ changed: a method
gone or with other parameters, an attribute gone, or RQ's work loop no longer
making the calls the overrides wait in. Real RQ against the test Redis, no
database: each test takes a fraction of a second.
"""

from __future__ import annotations

import inspect
import signal

import pytest
from rq import Callback, Queue
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker import BaseWorker, SimpleWorker, WorkerStatus

from shared.infra.queue import billing_queue
from worker.allowed_jobs import AllowedJob
from worker.billing_worker import BillingWorker

# BillingWorker's overrides of SimpleWorker's methods, and what else of RQ's worker it uses.
WORKER_OVERRIDES = (
    "dequeue_job_and_maintain_ttl",
    "heartbeat",
    "check_for_suspension",
    "run_maintenance_tasks",
    "execute_job",
    "set_shutdown_requested_date",
    "teardown",
)
WORKER_ATTRIBUTES = (
    "_stop_requested",
    "_ordered_queues",
    "_state",
    "scheduler",
    "should_run_maintenance_tasks",
    "queue_class",
    "job_class",
    "serializer",
    "death_penalty_class",
    "connection",
    "key",
    "name",
    "log",
)
WORKER_CALLS = {"set_state": ("state", "pipeline")}
# AllowedJob's overrides of Job's properties, and the attributes its refusal reads.
JOB_OVERRIDES = ("func", "success_callback", "failure_callback", "stopped_callback", "should_retry")
JOB_ATTRIBUTES = ("func_name", "instance", "_success_callback_name", "_failure_callback_name", "_stopped_callback_name")

called_back: list[str] = []


def record_callback(*args) -> None:
    """A job callback that only notes it ran."""
    called_back.append("ran")


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_every_overridden_worker_method_is_still_rqs_with_the_same_parameters():
    for name in WORKER_OVERRIDES:
        assert hasattr(SimpleWorker, name), f"RQ's worker no longer has {name}(), which BillingWorker overrides"
        ours, rqs = parameters(getattr(BillingWorker, name)), parameters(getattr(SimpleWorker, name))
        assert ours == rqs, f"RQ's {name}{rqs} now differs from BillingWorker's override {name}{ours}"
    shadowed = {name for name in vars(BillingWorker) if not name.startswith("__") and hasattr(SimpleWorker, name)}
    assert shadowed == set(WORKER_OVERRIDES), "list every override of RQ's worker in WORKER_OVERRIDES"
    for name, expected in WORKER_CALLS.items():
        assert parameters(getattr(SimpleWorker, name))[1:] == list(expected), f"RQ's {name}() changed its parameters"
    assert {"IDLE", "BUSY"} <= set(WorkerStatus.__members__), "RQ's WorkerStatus lost IDLE or BUSY"


def test_the_private_attributes_read_exist_on_a_real_worker(redis_conn):
    queue = billing_queue(redis_conn)
    worker = BillingWorker([queue], connection=redis_conn, serializer=JSONSerializer, job_class=AllowedJob)
    for name in WORKER_ATTRIBUTES:
        assert hasattr(worker, name), f"RQ's worker no longer has the attribute {name}, which BillingWorker reads"
    assert worker._stop_requested is False and worker._ordered_queues == [queue]
    scheduler = RQScheduler([queue], connection=redis_conn)
    assert hasattr(scheduler, "_process"), "RQ's scheduler no longer has _process (BillingWorker restarts it)"
    assert "auto_start" in parameters(scheduler.acquire_locks), "RQ's scheduler.acquire_locks lost auto_start"
    assert hasattr(queue.intermediate_queue, "remove"), "RQ's queue.intermediate_queue.remove is gone"


def test_a_job_rq_cannot_load_names_its_id_and_queue(redis_conn):
    """BillingWorker sets such a job aside by the job_id and queue RQ attaches to the error."""
    redis_conn.hset("rq:job:garbage", mapping={"data": b"{}", "status": "no-such-status", "origin": "billing"})
    redis_conn.rpush("rq:queue:billing", "garbage")
    with pytest.raises(Exception) as raised:
        Queue.dequeue_any([billing_queue(redis_conn)], None, connection=redis_conn, serializer=JSONSerializer)
    assert getattr(raised.value, "job_id", None) == "garbage", "RQ's dequeue_any no longer attaches job_id"
    assert getattr(raised.value, "queue", None) is not None, "RQ's dequeue_any no longer attaches queue"


def recording(names: tuple[str, ...], calls: list, returns: dict | None = None) -> type[SimpleWorker]:
    """SimpleWorker noting each call of ``names`` (and answering some itself)."""

    def noting(name):
        def method(self, *args, **kwargs):
            calls.append((name, args))
            if returns and name in returns:
                return returns[name]
            return getattr(SimpleWorker, name)(self, *args, **kwargs)

        return method

    return type("RecordingWorker", (SimpleWorker,), {name: noting(name) for name in names})


@pytest.fixture
def signal_handlers():
    """RQ's work loop installs its own SIGINT and SIGTERM handlers; put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_rqs_work_loop_still_makes_the_calls_the_overrides_wait_in(redis_conn, signal_handlers):
    calls: list = []
    queue = Queue("contract", connection=redis_conn)
    job = queue.enqueue_call("os.getpid")
    recording(WORKER_OVERRIDES, calls)([queue], connection=redis_conn).work(burst=True)
    names = [name for name, _ in calls]
    for name in WORKER_OVERRIDES:
        if name != "set_shutdown_requested_date":  # only on a stop request: see below
            assert name in names, f"RQ's work loop no longer calls {name}(), which BillingWorker overrides"
    dequeues = [args for name, args in calls if name == "dequeue_job_and_maintain_ttl"]
    assert dequeues and all(args[0] is None for args in dequeues), (
        "RQ's work loop no longer passes timeout=None in burst mode (BillingWorker tells burst mode by it)"
    )
    [(executed, where)] = [args for name, args in calls if name == "execute_job"]
    assert (executed.id, where.name) == (job.id, "contract"), "RQ's execute_job no longer gets (job, queue)"
    assert ("check_for_suspension", (True,)) in calls and names[-1] == "teardown"


def test_outside_burst_mode_the_loop_passes_a_timeout(redis_conn, signal_handlers):
    calls: list = []
    worker_class = recording(("dequeue_job_and_maintain_ttl",), calls, returns={"dequeue_job_and_maintain_ttl": None})
    worker = worker_class([Queue("contract", connection=redis_conn)], connection=redis_conn)
    worker.work(burst=False)  # our answer of None ends the loop
    [(_, (timeout, _max_idle))] = calls
    assert timeout is not None and timeout == worker.dequeue_timeout


def test_a_stop_request_while_busy_sets_the_flag_and_records_the_date(redis_conn, signal_handlers):
    calls: list = []
    worker = recording(("set_shutdown_requested_date",), calls)(
        [Queue("contract", connection=redis_conn)], connection=redis_conn
    )
    worker.set_state(WorkerStatus.BUSY)
    worker.request_stop(signal.SIGTERM, None)
    assert worker._stop_requested is True, "RQ's warm shutdown no longer sets _stop_requested"
    assert [name for name, _ in calls] == ["set_shutdown_requested_date"], (
        "RQ's warm shutdown no longer calls set_shutdown_requested_date()"
    )


def test_every_overridden_job_property_is_still_a_property_of_rqs_job():
    for name in JOB_OVERRIDES:
        assert isinstance(inspect.getattr_static(Job, name, None), property), f"RQ's Job.{name} is no longer a property"
    shadowed = {name for name in vars(AllowedJob) if not name.startswith("__") and hasattr(Job, name)}
    assert shadowed == set(JOB_OVERRIDES), "list every override of RQ's Job in JOB_OVERRIDES"
    assert "job.should_retry" in inspect.getsource(BaseWorker.handle_job_failure), (
        "RQ's worker no longer decides retries by job.should_retry (AllowedJob refuses them through it)"
    )


def test_a_job_loaded_from_redis_has_what_the_refusal_reads(redis_conn):
    on = Callback(f"{__name__}.record_callback")
    queue = billing_queue(redis_conn)
    saved = queue.enqueue_call("os.getpid", on_success=on, on_failure=on, on_stopped=on)
    job = AllowedJob.fetch(saved.id, connection=redis_conn, serializer=JSONSerializer)
    for name in JOB_ATTRIBUTES:
        assert hasattr(job, name), f"RQ's Job no longer has {name}, which AllowedJob's refusal reads"
    assert (job.func_name, job.instance, job._stopped_callback_name) == ("os.getpid", None, on.name)


def test_rq_runs_a_job_and_its_callbacks_only_through_the_overridden_properties(redis_conn):
    on = Callback(f"{__name__}.record_callback")
    saved = billing_queue(redis_conn).enqueue_call("os.getpid", on_success=on, on_failure=on, on_stopped=on)
    job = AllowedJob.fetch(saved.id, connection=redis_conn, serializer=JSONSerializer)
    called_back.clear()
    with pytest.raises(Exception, match=r"refused to run 'os\.getpid'"):
        job.perform()
    job.execute_success_callback(TimerDeathPenalty, None)
    job.execute_failure_callback(TimerDeathPenalty, None, None, None)
    job.execute_stopped_callback(TimerDeathPenalty)
    assert called_back == [], "RQ ran a callback without asking AllowedJob's property"
    plain = Job.fetch(saved.id, connection=redis_conn, serializer=JSONSerializer)
    plain.execute_success_callback(TimerDeathPenalty, None)
    assert called_back == ["ran"]  # the same callback does run when not refused: the check above can fail


def test_unsubscribing_a_worker_does_not_wait_out_its_pubsub_poll(redis_conn):
    """RQ's teardown stops the worker's pubsub thread, which polls every 60 s. redis-py 8.2 made that
    stop wait out the poll (pyproject pins below it): every test drain and SIGTERM then took a minute."""
    import threading

    from tests.services import wait_for

    worker = SimpleWorker([billing_queue(redis_conn)], connection=redis_conn, serializer=JSONSerializer)
    worker.subscribe()
    worker.pubsub.unsubscribe()  # as RQ's unsubscribe begins; the thread reads the reply and polls again
    wait_for(lambda: not worker.pubsub.subscribed, timeout=5, what="the pubsub thread to read the reply")
    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    stopping.start()
    stopping.join(timeout=10)  # a bound on a hang, not a speed: the poll it must not wait for is 60 s
    assert not stopping.is_alive(), "unsubscribe waited for the pubsub thread's 60 s poll"
