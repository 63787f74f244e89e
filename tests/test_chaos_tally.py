"""The fault suite's "applied twice" count sees a second application, and only that.

Its audit trigger (bench/chaos/stack.py) must count an event settled by two
committed transactions, and must not count a redelivery the ledger turned
into a no-op, nor an event that failed first and was applied by its retry.
PostgreSQL only, like the suite.
"""

from __future__ import annotations

import time
import uuid

import pytest

from bench.chaos import tally
from bench.chaos.stack import Postgres
from bench.events import body_of, event, subscription
from shared.infra.db import database
from shared.infra.models import StripeEvent
from shared.sync import ledger
from shared.sync.apply import EventApplier
from shared.sync.events import Event
from shared.sync.handlers import Effect
from shared.sync.inbox import Envelope


@pytest.fixture
def audited(postgres_base_url):
    postgres = Postgres(postgres_base_url, uuid.uuid4().hex[:8]).create()
    yield postgres
    postgres.drop()


def envelope(event_id: str) -> Envelope:
    evt = event(
        event_id, "customer.subscription.updated", subscription("sub_T1", "cus_T1", 1_767_225_600), 1_767_225_600
    )
    return Envelope(event_id, body_of(evt).decode(), time.time(), "1-0")


def test_a_redelivery_is_not_counted_but_a_second_application_is(audited):
    applier = EventApplier(stripe_client=None)  # no tie: nothing is fetched
    with database.connection_context():
        applier.apply_batch([envelope("evt_T1")])
        applier.apply_batch([envelope("evt_T1")])  # the ledger makes it a no-op
        assert tally.settled_transitions()["evt_T1"] == 1
        with database.atomic():  # what a broken ledger check would do: settle it again
            ledger.finish_all([(Event.parse(envelope("evt_T1")), Effect(StripeEvent.APPLIED))])
        assert tally.settled_transitions()["evt_T1"] == 2


def test_failed_then_applied_by_its_retry_is_counted_once(audited):
    with database.connection_context():
        ledger.record_failure("evt_T2", "customer.subscription.updated", 1_767_225_600, time.time(), "boom")
        EventApplier(stripe_client=None).apply_batch([envelope("evt_T2")])
        assert StripeEvent.get_by_id("evt_T2").outcome == StripeEvent.APPLIED
        assert StripeEvent.get_by_id("evt_T2").attempts == 2  # why the ledger's attempts cannot tell
        assert tally.settled_transitions()["evt_T2"] == 1
