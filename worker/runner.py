"""Start a worker: ``python -m worker`` (the Procfile's and compose's command)."""
from __future__ import annotations

import argparse

from rq.serializers import JSONSerializer

from shared.db import database
from shared.logs import configure_logging
from shared.queue import billing_queue
from shared.redis_conn import connect_redis
from shared.settings import Settings
from worker import context, health, metrics_server, orphans
from worker.billing_worker import BillingWorker
from worker.consumer import InboxConsumer


def build_worker(ctx: context.WorkerContext, name: str | None = None) -> BillingWorker:
    queue = billing_queue(ctx.redis)
    worker = BillingWorker([queue], connection=ctx.redis, serializer=JSONSerializer, name=name)
    consumer = InboxConsumer(
        ctx.redis,
        ctx.applier,
        queue,
        worker.name,
        batch_size=ctx.settings.worker_batch_size,
        claim_idle_seconds=ctx.settings.worker_claim_idle_seconds,
        max_retries=ctx.settings.worker_max_retries,
    )
    return worker.attach(consumer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker",
        description="Apply Stripe webhook deliveries from Redis to the database. "
        "Configured by the environment (see .env.example). SIGTERM finishes the current batch, then exits.",
    )
    parser.add_argument("--burst", action="store_true", help="drain what is queued, then exit")
    parser.add_argument("--name", help="worker name (default: generated, unique)")
    parser.add_argument("--healthcheck", action="store_true",
                        help="exit 0 if a worker on this host sent a heartbeat in the last minute, else 1")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.healthcheck:
        return 0 if health.healthy(connect_redis(settings.redis_url, timeout=5)) else 1
    configure_logging(settings.log_level)
    orphans.stop_children_with_this_process()
    if settings.worker_metrics_port:
        metrics_server.serve(settings.worker_metrics_port, settings.metrics_token)
    ctx = context.build_context(settings)
    context.install(ctx)
    database.connect(reuse_if_open=True)
    worker = build_worker(ctx, args.name)
    worker.work(burst=args.burst, with_scheduler=not args.burst, logging_level=settings.log_level)
    return 0
