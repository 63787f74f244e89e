"""RQ jobs. They take primitives, find their resources in worker.context, and
let exceptions propagate so RQ retries them and keeps the final failure."""

from __future__ import annotations

from shared.billing import host_notifications
from shared.infra.db import unit_of_work
from shared.infra.errors import EventError
from shared.infra.models import StripeEvent
from shared.ops import metrics
from shared.sync.apply import DUPLICATE
from shared.sync.inbox import Envelope
from worker import context


def apply_event(envelope: dict) -> str:
    """Apply one delivery that failed in its batch; raising makes RQ retry it."""
    ctx = context.current()
    with unit_of_work():  # a failure closes the connection: the retry starts on a new one
        [result] = ctx.applier.apply_batch([Envelope.from_job_arg(envelope)])
    metrics.count_event(result)
    if result.outcome == StripeEvent.FAILED:
        raise EventError(result.error)
    return result.outcome if result.outcome != DUPLICATE else "already applied"


def notify_host(user_id: int, claim: str) -> str:
    """Deliver one leased notification to the host app; its retries follow the row's own schedule."""
    ctx = context.current()
    with unit_of_work():
        outcome = host_notifications.deliver(user_id, claim, ctx.settings, ctx.http)
    host_notifications.count_outcome(ctx.redis, outcome)
    return f"{outcome.state}: {outcome.detail}" if outcome.detail else outcome.state
