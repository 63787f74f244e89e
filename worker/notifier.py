"""Hands due notifications to the host app to RQ jobs, from the worker's loop.

The rows are the outbox (shared.billing.host_notifications); this only leases
the due ones, each to one job, right after a batch changed something and at
least once a second otherwise, so retries come due without a scheduler of
their own. Several workers may sweep at once: a lease goes to one of them.
"""

from __future__ import annotations

import time

from rq import Queue

from shared.billing import host_notifications
from shared.infra.settings import Settings

IDLE_SWEEP_SECONDS = 1.0
RESULT_TTL = 0  # the row records the outcome; a result hash per delivery would pile up in Redis
FAILED_TTL = 7 * 86_400


class NotificationSweeper:
    def __init__(self, settings: Settings, queue: Queue, clock=time.monotonic):
        self.settings = settings
        self.queue = queue
        self.clock = clock
        self.next_sweep = 0.0

    def sweep(self, changed: bool) -> int:
        """Enqueue a delivery job per due row; returns how many. Does nothing without HOST_WEBHOOK_URL."""
        if not self.settings.host_webhook_url or (not changed and self.clock() < self.next_sweep):
            return 0
        self.next_sweep = self.clock() + IDLE_SWEEP_SECONDS
        leased = host_notifications.lease_due(self.settings)
        for user_id, claim in leased:
            self.queue.enqueue_call(
                "worker.jobs.notify_host",
                args=(user_id, claim),
                job_id=f"notify-{user_id}-{claim}",
                result_ttl=RESULT_TTL,
                failure_ttl=FAILED_TTL,
                description=f"notify the host app of user {user_id}",
            )
        return len(leased)
