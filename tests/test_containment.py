"""One bad delivery fails alone, through the real worker: its neighbours apply, nothing stays pending.

Deliveries are written straight to the Redis stream, as anyone with access
to Redis could, so the web's own check (tests/test_event_shapes.py) is not
there to help. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import stripe
from rq import Queue
from rq.serializers import JSONSerializer

from shared.infra.db import database, init_database, is_infrastructure_error, is_postgres
from shared.infra.models import StripeEvent, Subscription
from shared.infra.queue import QUEUE_NAME, billing_queue
from shared.ops import failed_events
from shared.sync import inbox
from shared.sync.apply import EventApplier
from shared.sync.event_shape import storable_id
from tests.hostile_events import SHAPES, hostile
from tests.services import free_port, postgres_only
from tests.stripe_fixtures import body_of, checkout_session, event, subscription
from tests.worker_helpers import drain, push
from worker.consumer import InboxConsumer


def innocents(count=6) -> list[dict]:
    return [event("customer.subscription.created", subscription(), created=1_700_000_000 + n) for n in range(count)]


def push_entry(redis_conn, fields: dict) -> None:
    redis_conn.xadd(inbox.STREAM_KEY, fields)


def drain_without_retries(settings, redis_conn):
    drain(dataclasses.replace(settings, worker_max_retries=0), redis_conn)


def assert_contained(redis_conn, neighbours: list[dict], reason: str) -> StripeEvent:
    """The neighbours applied, the stream empty, and the one failure recorded and in RQ's failed list."""
    assert {e.id for e in StripeEvent.select().where(StripeEvent.outcome == "applied")} == {e["id"] for e in neighbours}
    assert Subscription.select().count() == len(neighbours)
    assert inbox.depth(redis_conn) == 0
    assert redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"] == 0
    [failure] = StripeEvent.select().where(StripeEvent.outcome == "failed")
    assert reason in failure.error
    [listed] = failed_events.list_failed(redis_conn)  # what `portal-service failed list` shows
    assert listed.event_id == failure.id and listed.ledger is not None
    return failure


@pytest.mark.parametrize("base, change, message", SHAPES)
def test_a_hostile_event_fails_alone_and_its_batch_applies(settings, db, redis_conn, base, change, message):
    culprit = hostile(base, change)
    neighbours = innocents()
    batch = [*neighbours[:3], culprit, *neighbours[3:]]
    for evt in batch:
        push_entry(redis_conn, inbox.delivery_fields(evt["id"], "x", body_of(evt)))
    if storable_id(culprit["id"]) != culprit["id"]:  # stood in for in the ledger, before its body is read
        message = "is not a Stripe id; recorded as invalid_id_"
    drain_without_retries(settings, redis_conn)
    assert_contained(redis_conn, neighbours, message)


def test_an_unstorable_event_id_is_recorded_under_a_marked_stand_in(settings, db, redis_conn):
    culprit = hostile("subscription", lambda e: {**e, "id": "evt_\x00" + "a" * 300})
    neighbours = innocents()
    push(redis_conn, culprit, *neighbours)
    drain_without_retries(settings, redis_conn)
    failure = assert_contained(redis_conn, neighbours, "is not a Stripe id; recorded as invalid_id_")
    assert failure.id.startswith("invalid_id_")
    assert "'evt_\\x00aaa" in failure.error  # the original, escaped


ENTRY = {b"id": b"evt_malformed1", b"type": b"x", b"body": b"{}", b"received": b"1700000000.5"}
NO_BODY = {key: value for key, value in ENTRY.items() if key != b"body"}


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({**ENTRY, b"received": b"soon"}, "'received' is not a time"),
        ({**ENTRY, b"received": b"nan"}, "'received' is not a time"),
        ({**ENTRY, b"received": b"1e400"}, "'received' is not a time"),
        ({b"id": b"evt_malformed1", b"body": b"{}"}, "stream entry has no 'received' field"),
        ({**ENTRY, b"id": b"evt_\xff\xfe"}, "field 'id' is not UTF-8"),
        ({b"body": b"{}", b"received": b"1700000000"}, "stream entry has no 'id' field"),
        (NO_BODY, "stream entry has no 'body' field"),
        ({**ENTRY, b"body": b'{"id": "evt_\xff"}'}, "field 'body' is not UTF-8"),
        ({b"written-by": b"someone else"}, "stream entry has no 'id' field"),
    ],
    ids=[
        "received-a-word",
        "received-nan",
        "received-infinite",
        "received-missing",
        "id-not-utf8",
        "id-missing",
        "body-missing",
        "body-not-utf8",
        "foreign-entry",
    ],
)
def test_a_malformed_stream_entry_fails_alone(settings, db, redis_conn, fields, reason):
    neighbours = innocents()
    push(redis_conn, *neighbours[:3])
    push_entry(redis_conn, fields)
    push(redis_conn, *neighbours[3:])
    drain_without_retries(settings, redis_conn)
    assert_contained(redis_conn, neighbours, reason)


def test_a_good_body_in_a_malformed_entry_still_fails_when_its_job_runs(settings, db, redis_conn):
    """The entry's problem travels with its RQ job: the job does not apply what the stream entry could not vouch for."""
    evt = innocents(1)[0]
    push_entry(redis_conn, {b"id": evt["id"].encode(), b"body": body_of(evt), b"received": b"later"})
    drain(dataclasses.replace(settings, worker_max_retries=1), redis_conn)
    entry = StripeEvent.get_by_id(evt["id"])
    assert (entry.outcome, entry.attempts) == ("failed", 2)  # in its batch, then as an RQ job
    assert Subscription.select().count() == 0


POISON = {  # a rule the database enforces that no event check knows: the error comes from the bulk statement
    "subscription-upsert": ("subscription", "status", "poison"),
    "subscription-placeholder": ("subscription", "customer_id", "cus_POISON"),
    "ledger-claim": ("stripe_event", "type", "poison.event"),
}


def poison(table: str, column: str, value: str) -> None:
    if is_postgres():
        database.execute_sql(f"ALTER TABLE {table} ADD CONSTRAINT poisoned CHECK ({column} IS DISTINCT FROM '{value}')")
        return
    for when in ("INSERT", "UPDATE"):
        database.execute_sql(
            f"CREATE TRIGGER poisoned_{when.lower()} BEFORE {when} ON {table} "
            f"WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )


def poisoned_event(where: str) -> dict:
    if where == "subscription-upsert":
        return event("customer.subscription.updated", subscription(status="poison"), created=1_700_000_000)
    if where == "subscription-placeholder":
        return event("customer.subscription.updated", subscription(customer="cus_POISON"), created=1_700_000_000)
    return event("poison.event", {"id": "thing_1"}, created=1_700_000_000)


@pytest.mark.parametrize("where", list(POISON))
def test_a_batch_the_database_refuses_is_split_until_the_culprit_is_alone(settings, db, redis_conn, where):
    poison(*POISON[where])
    neighbours = innocents(13)
    culprit = poisoned_event(where)
    push(redis_conn, *neighbours[:9], culprit, *neighbours[9:])
    drain_without_retries(settings, redis_conn)
    failure = assert_contained(redis_conn, neighbours, "poisoned")
    assert failure.id == culprit["id"]


def test_an_unknown_type_with_an_odd_customer_is_recorded_ignored(settings, db, redis_conn):
    odd = event("product.created", {"id": "prod_1", "customer": ["not", "an", "id"]})
    push(redis_conn, odd)
    drain(settings, redis_conn)
    entry = StripeEvent.get_by_id(odd["id"])
    assert (entry.outcome, entry.customer_id) == ("ignored", None)


def test_an_unreachable_database_leaves_the_batch_pending(settings, db, db_url, redis_conn, tmp_path):
    """Infrastructure, not the batch: process() raises and nothing is acknowledged or recorded."""
    neighbours = innocents(3)
    push(redis_conn, *neighbours)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": "http://127.0.0.1:9"}, max_network_retries=0)
    queue = billing_queue(redis_conn)
    consumer = InboxConsumer(redis_conn, EventApplier(client), queue, "test-consumer")
    entries = consumer.read(None)
    database.close()
    if is_postgres():
        init_database(f"postgresql://127.0.0.1:{free_port()}/test")
    else:
        (tmp_path / "a-folder").mkdir()
        init_database(f"sqlite:///{tmp_path / 'a-folder'}")  # cannot be opened as a database
    try:
        with pytest.raises(Exception):  # noqa: B017 - which error depends on the database and its driver
            consumer.process(entries)
    finally:
        database.close()
        init_database(db_url)
        database.connect(reuse_if_open=True)
    assert redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"] == 3
    assert StripeEvent.select().count() == 0
    assert Queue(QUEUE_NAME, connection=redis_conn, serializer=JSONSerializer).count == 0


@postgres_only
def test_a_dropped_connection_is_not_blamed_on_the_batch(settings, db, redis_conn):
    """The server ends our session mid-work (a restart, a failover): process() raises, the batch stays pending."""
    neighbours = innocents(3)
    push(redis_conn, *neighbours)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": "http://127.0.0.1:9"}, max_network_retries=0)
    consumer = InboxConsumer(redis_conn, EventApplier(client), billing_queue(redis_conn), "test-consumer")
    entries = consumer.read(None)
    with contextlib.suppress(Exception):  # noqa: BLE001 - the server may say so on this very statement
        database.execute_sql("SELECT pg_terminate_backend(pg_backend_pid())")  # our own session only
    with pytest.raises(Exception) as raised:
        consumer.process(entries)
    assert is_infrastructure_error(raised.value)
    database.close()
    database.connect()
    assert redis_conn.xpending(inbox.STREAM_KEY, inbox.GROUP)["pending"] == 3
    assert StripeEvent.select().count() == 0


def test_a_reference_no_integer_column_holds_names_no_user(settings, db, redis_conn):
    """A 100-digit client_reference_id is fine text, but no user's id: SQLite once raised
    OverflowError binding it; now it names no known user on both databases, and fails alone."""
    culprit = event("checkout.session.completed", checkout_session(customer="cus_BIG", client_reference_id="9" * 100))
    neighbours = innocents()
    push(redis_conn, *neighbours[:3], culprit, *neighbours[3:])
    drain_without_retries(settings, redis_conn)
    assert assert_contained(redis_conn, neighbours, "names no known user").id == culprit["id"]
