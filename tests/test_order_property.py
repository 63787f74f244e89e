"""Property: any order and any duplication of one subscription's real event
history, applied by several workers at once, ends in Stripe's newest state.

Histories are made by the offline Stripe sandbox doing real things (checkout,
cancel at period end, reactivate, plan switch, failed payment, renewal, cancel
now), so same-second ties are real and the tie-break fetch is exercised.
"""

from __future__ import annotations

import random
import threading
import time

from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from bench.histories import COMPARED, OPERATIONS, expected_rows, perform, record_history
from shared.infra.db import database
from shared.infra.models import Subscription
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope
from tests.stripe_fixtures import body_of


def apply_concurrently(stripe_client, envelopes: list[Envelope], workers: int, rng: random.Random) -> None:
    """Several workers, each with its own connection, take random-sized batches."""
    pending = list(envelopes)
    lock = threading.Lock()
    errors = []

    def work():
        applier = EventApplier(stripe_client)
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    size = rng.randint(1, 4)
                    batch, pending[:size] = pending[:size], []
                applier.apply_batch(batch)
        except Exception as exc:  # surfaced below: the test fails with it
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


@hyp_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=5),
    duplicates=st.integers(min_value=0, max_value=6),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    workers=st.integers(min_value=1, max_value=3),
)
def test_any_order_and_duplication_ends_in_the_newest_state(db, sandbox, operations, duplicates, seed, workers):
    client = sandbox.stripe_client()
    made = sandbox.sandbox.create_subscription(f"p{seed}@example.com", "basic")
    sub_id, customer_id = made["subscription"]["id"], made["customer"]["id"]
    seen: dict[str, dict] = {}
    record_history(sandbox, customer_id, seen)
    for operation in operations:
        if client.v1.subscriptions.retrieve(sub_id)["status"] == "canceled":
            break
        perform(sandbox, client, sub_id, operation)
        record_history(sandbox, customer_id, seen)

    rng = random.Random(seed)
    history = list(seen.values())
    deliveries = history + [rng.choice(history) for _ in range(duplicates)]
    rng.shuffle(deliveries)
    envelopes = [Envelope(e["id"], body_of(e).decode(), time.time(), str(i)) for i, e in enumerate(deliveries)]
    apply_concurrently(client, envelopes, workers, rng)

    database.connect(reuse_if_open=True)
    stored = Subscription.get_by_id(sub_id)
    assert {name: getattr(stored, name) for name in COMPARED} == expected_rows(client, [sub_id])[sub_id]
