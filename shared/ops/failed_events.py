"""Events whose jobs finally failed: RQ's FailedJobRegistry of the billing queue,
read alongside each event's ledger row."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import redis
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job

from shared.infra.models import StripeEvent
from shared.infra.queue import billing_queue


@dataclass(frozen=True)
class FailedEvent:
    job_id: str
    event_id: str
    error: str  # the last line of the final exception
    ledger: StripeEvent | None


def _registry(conn: redis.Redis):
    return billing_queue(conn).failed_job_registry


def list_failed(conn: redis.Redis) -> list[FailedEvent]:
    queue = billing_queue(conn)
    failed = []
    for job_id in _registry(conn).get_job_ids():
        job = queue.fetch_job(job_id)
        if job is not None:
            failed.append(_describe(job))
    return failed


def _describe(job: Job) -> FailedEvent:
    event_id = _event_id_of(job)
    result = job.latest_result()
    lines = (result.exc_string or "").strip().splitlines() if result else []
    return FailedEvent(
        job.id, event_id, lines[-1] if lines else "", StripeEvent.get_or_none(StripeEvent.id == event_id)
    )


def _event_id_of(job: Job) -> str:
    """The event a job was for; "" for a job that is not one of ours (the worker refused it)."""
    try:
        arg = job.args[0] if job.args else {}
    except DeserializationError:
        return ""
    event_id = arg.get("event_id", "") if isinstance(arg, dict) else ""
    return event_id if isinstance(event_id, str) else ""


def select(failed: list[FailedEvent], event_ids: tuple[str, ...]) -> list[FailedEvent]:
    """The failures of the named events; an id with no failure is an error, named."""
    unknown = sorted(set(event_ids) - {f.event_id for f in failed})
    if unknown:
        raise LookupError("no failed job for " + ", ".join(unknown))
    return [f for f in failed if f.event_id in event_ids]


def requeue(conn: redis.Redis, chosen: list[FailedEvent]) -> int:
    """Put the jobs back on the queue; the worker applies them (the ledger keeps it idempotent)."""
    registry = _registry(conn)
    for failed in chosen:
        registry.requeue(failed.job_id)
    return len(chosen)


def purge(conn: redis.Redis, chosen: list[FailedEvent]) -> int:
    """Delete the failed jobs; the ledger rows stay, marked failed, as the record."""
    registry = _registry(conn)
    for failed in chosen:
        with contextlib.suppress(NoSuchJobError):  # expired between listing and purging: already gone
            registry.remove(failed.job_id, delete_job=True)
    return len(chosen)
