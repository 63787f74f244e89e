"""Start a worker: ``python -m worker`` (the Procfile's and compose's command)."""
from __future__ import annotations

import argparse

from rq.serializers import JSONSerializer

from shared.db import database
from shared.logs import configure_logging
from shared.queue import billing_queue
from shared.settings import Settings
from worker import context
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
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    ctx = context.build_context(settings)
    context.install(ctx)
    database.connect(reuse_if_open=True)
    worker = build_worker(ctx, args.name)
    worker.work(burst=args.burst, with_scheduler=not args.burst, logging_level=settings.log_level)
    return 0
