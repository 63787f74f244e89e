"""The design a user would pick instead: verify and apply inside the webhook request.

What the starter kits do (the seed's Next.js handler, dj-stripe, Cashier):
stripe-python's ``construct_event``, then the event is written to the
database before the answer, one transaction per request. It exists only in
the benchmark. To make the comparison about the design and not about the
code, it applies the event with this project's own ``EventApplier`` (a batch
of one). On SQLite each thread keeps its connection, as the service's web
does; on PostgreSQL each process has a pool of 8 (what an ORM's pool gives,
and what lets two such servers run beside each other under PostgreSQL's 100
connections: 64 threads each would need 128).

``lean_app`` is the leanest such handler, for a lower bound on the design's
cost: one transaction that checks the event is new, upserts the subscription
from the snapshot and records the event; no ordering rule, no shape checks.

Environment: DATABASE_URL, STRIPE_WEBHOOK_SECRET (as the service's).
"""

from __future__ import annotations

import os
import time

import stripe
from flask import Flask, request
from playhouse.db_url import connect as connect_url
from playhouse.pool import PooledDatabase

from shared.infra.db import database, init_database, write_transaction
from shared.infra.models import StripeEvent, Subscription
from shared.infra.timeutil import utcnow
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope

POOL = 8  # PostgreSQL connections per process; a thread waits up to 10 s for one


def open_pooled(url: str) -> None:
    separator = "&" if "?" in url else "?"
    pooled = url.replace("postgresql://", "postgresql+pool://", 1) + f"{separator}max_connections={POOL}&timeout=10"
    database.initialize(connect_url(pooled, connect_timeout=5))


def give_back(exc) -> None:
    """A pooled connection returns to the pool after each request."""
    if isinstance(database.obj, PooledDatabase) and not database.is_closed():
        database.close()


app = Flask(__name__)
lean_app = Flask(__name__)
app.teardown_request(give_back)
lean_app.teardown_request(give_back)
if os.environ["DATABASE_URL"].startswith("postgres"):
    open_pooled(os.environ["DATABASE_URL"])
else:
    init_database(os.environ["DATABASE_URL"])
SECRET = os.environ["STRIPE_WEBHOOK_SECRET"]
# Never called: the benchmark's events apply from their snapshots (no same-second ties).
applier = EventApplier(stripe.StripeClient("sk_test_bench", base_addresses={"api": "http://127.0.0.1:9"}))


@app.post("/api/webhooks/stripe")
def webhook():
    body = request.get_data()
    try:
        event = stripe.Webhook.construct_event(body, request.headers.get("Stripe-Signature", ""), SECRET)
    except (ValueError, stripe.SignatureVerificationError):
        return "bad signature", 400
    database.connect(reuse_if_open=True)
    [result] = applier.apply_batch([Envelope(event.id, body.decode(), time.time())])
    if result.outcome == StripeEvent.FAILED:
        return "not applied", 500  # Stripe retries it, as it would a starter kit's exception
    return "OK"


@lean_app.post("/api/webhooks/stripe")
def lean_webhook():
    body = request.get_data()
    try:
        event = stripe.Webhook.construct_event(body, request.headers.get("Stripe-Signature", ""), SECRET)
    except (ValueError, stripe.SignatureVerificationError):
        return "bad signature", 400
    sub, now = event.data.object, utcnow()
    database.connect(reuse_if_open=True)
    with write_transaction():
        if not StripeEvent.select().where(StripeEvent.id == event.id).exists():  # a redelivery changes nothing
            item = sub["items"]["data"][0]
            row = {"id": sub.id, "customer_id": sub.customer, "status": sub.status, "price_id": item["price"]["id"]}
            Subscription.insert(
                **row, quantity=item["quantity"], version_created=event.created, updated_at=now
            ).on_conflict(
                conflict_target=[Subscription.id],
                preserve=[
                    Subscription.status,
                    Subscription.price_id,
                    Subscription.quantity,
                    Subscription.version_created,
                ],
            ).execute()
            StripeEvent.insert(
                id=event.id, type=event.type, created=event.created, customer_id=sub.customer,
                received_at=now, processed_at=now, outcome=StripeEvent.APPLIED, attempts=1,
            ).execute()  # fmt: skip
    return "OK"
