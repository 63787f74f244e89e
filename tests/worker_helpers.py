"""Running the real worker in-process for tests (burst mode drains and returns)."""

from __future__ import annotations

import requests
import stripe

from shared.sync import inbox
from shared.sync.apply import EventApplier
from tests.stripe_fixtures import body_of
from worker import context
from worker.runner import build_worker


def stripe_client_for(settings) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_secret_key, base_addresses={"api": settings.stripe_api_base}, max_network_retries=0
    )


def install_context(settings, redis_conn) -> context.WorkerContext:
    client = stripe_client_for(settings)
    ctx = context.WorkerContext(settings, redis_conn, client, EventApplier(client), requests.Session())
    context.install(ctx)
    return ctx


def drain(settings, redis_conn, name=None):
    worker = build_worker(install_context(settings, redis_conn), name)
    worker.work(burst=True)
    return worker


def push(redis_conn, *events):
    for evt in events:
        inbox.push(redis_conn, evt["id"], evt["type"], body_of(evt))
