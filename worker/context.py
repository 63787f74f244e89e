"""What a worker process needs, built once per process from settings.

Jobs are run by dotted path with primitive arguments, so they find their
database, Redis and Stripe client here rather than in their arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
import requests
import stripe

from shared.infra.db import init_database
from shared.infra.redis_conn import connect_redis
from shared.infra.settings import Settings
from shared.infra.stripe_client import build_stripe_client
from shared.ops import metrics
from shared.sync.apply import EventApplier


@dataclass
class WorkerContext:
    settings: Settings
    redis: redis.Redis
    stripe: stripe.StripeClient
    applier: EventApplier
    http: requests.Session  # notifications to the host app: connections kept between deliveries


_context: WorkerContext | None = None


def build_context(settings: Settings) -> WorkerContext:
    init_database(settings.database_url)
    client = build_stripe_client(settings, metrics.observe_limiter_wait, metrics.count_stripe_429)
    return WorkerContext(
        settings=settings,
        redis=connect_redis(settings.redis_url, timeout=30, retries=3),
        stripe=client,
        applier=EventApplier(client, fetch_mode=settings.stripe_fetch_mode),
        http=requests.Session(),
    )


def install(context: WorkerContext) -> None:
    global _context
    _context = context


def current() -> WorkerContext:
    """The process's context, built from the environment on first use."""
    global _context
    if _context is None:
        _context = build_context(Settings.from_env())
    return _context
