"""Start a worker: ``python -m worker`` (the Procfile's and compose's command)."""

from __future__ import annotations

import argparse
import logging
import time

from rq.serializers import JSONSerializer

from shared.infra.logs import configure_logging
from shared.infra.queue import billing_queue
from shared.infra.settings import Settings
from worker import context, health, metrics_server, orphans
from worker.allowed_jobs import AllowedJob
from worker.billing_worker import REDIS_DOWN, Backoff, BillingWorker
from worker.consumer import InboxConsumer
from worker.notifier import NotificationSweeper

log = logging.getLogger(__name__)


def build_worker(ctx: context.WorkerContext, name: str | None = None) -> BillingWorker:
    queue = billing_queue(ctx.redis)
    worker = BillingWorker([queue], connection=ctx.redis, serializer=JSONSerializer, job_class=AllowedJob, name=name)
    consumer = InboxConsumer(
        ctx.redis,
        ctx.applier,
        queue,
        worker.name,
        batch_size=ctx.settings.worker_batch_size,
        claim_idle_seconds=ctx.settings.worker_claim_idle_seconds,
        max_retries=ctx.settings.worker_max_retries,
    )
    return worker.attach(consumer, NotificationSweeper(ctx.settings, queue))


def build_worker_when_redis_answers(ctx: context.WorkerContext, name: str | None = None) -> BillingWorker:
    """A worker started while Redis is down (a restart, a failover) waits for it
    instead of exiting: registering and joining the consumer group need Redis."""
    backoff = Backoff()
    while True:
        try:
            return build_worker(ctx, name)
        except REDIS_DOWN as exc:
            pause = backoff.next_pause()
            log.warning("Redis is unavailable at start (%s); trying again in %.1fs", exc, pause)
            time.sleep(pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker",
        description="Apply Stripe webhook deliveries from Redis to the database. "
        "Configured by the environment (see .env.example). SIGTERM finishes the current batch, then exits.",
    )
    parser.add_argument("--burst", action="store_true", help="drain what is queued, then exit")
    parser.add_argument("--name", help="worker name (default: generated, unique)")
    parser.add_argument(
        "--healthcheck",
        action="store_true",
        help="exit 0 if Redis and the database answer and a worker on this host made progress "
        "in the last WORKER_STALL_SECONDS, else print why and exit 1",
    )
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.healthcheck:
        return _healthcheck(settings)
    configure_logging(settings.log_level)
    orphans.stop_children_with_this_process()
    if settings.worker_metrics_port:
        metrics_server.serve(settings.worker_metrics_port, settings.metrics_token)
    ctx = context.build_context(settings)
    context.install(ctx)
    worker = build_worker_when_redis_answers(ctx, args.name)  # the database is connected per batch
    worker.work(burst=args.burst, with_scheduler=not args.burst, logging_level=settings.log_level)
    return 0


def _healthcheck(settings: Settings) -> int:
    problem = health.problem(settings)
    print(f"unhealthy: {problem}" if problem else "healthy")
    return 1 if problem else 0
