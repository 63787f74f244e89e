"""Properties of the shape check and of reading stream entries, over generated input (no database)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.sync.event_shape import OBJECT_CHECKS, STORABLE_ID, UnfitEvent, check_event
from shared.sync.events import Event
from shared.sync.inbox import Envelope
from shared.sync.stripe_objects import invoice_subscription_id, subscription_columns
from tests.stripe_fixtures import subscription

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["sub_1", "cus_1", "in_1", "cs_1", "active", ""])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "customer",
                    "status",
                    "items",
                    "data",
                    "quantity",
                    "price",
                    "product",
                    "parent",
                    "subscription_details",
                    "subscription",
                    "created",
                    "current_period_end",
                    "email",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


def an_event(event_type: str, obj) -> dict:
    return {"id": "evt_1", "type": event_type, "created": 1_700_000_000, "data": {"object": obj}}


@settings(max_examples=300, deadline=None)
@given(event_type=st.sampled_from([*sorted(OBJECT_CHECKS), "product.created"]), obj=JSON)
def test_the_check_refuses_only_with_its_own_error_and_what_it_passes_can_be_read(event_type, obj):
    try:
        check_event(an_event(event_type, obj))
    except UnfitEvent:
        return
    event = Event(an_event(event_type, obj)["id"], event_type, 1_700_000_000, obj, None)
    event.customer_id, event.subscription_id  # noqa: B018 - read without error
    if event_type.startswith("customer.subscription."):
        subscription_columns(obj)
    if event_type.startswith("invoice."):
        invoice_subscription_id(obj)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([b"id", b"body", b"received", b"type", b"other"]), st.binary(max_size=64)))
def test_any_stream_entry_reads_as_an_envelope_with_a_storable_id(fields):
    envelope = Envelope.from_entry(b"1-0", fields)
    assert STORABLE_ID.fullmatch(envelope.event_id)
    if envelope.problem == "":
        assert fields[b"id"].decode() == envelope.event_id


def test_a_fixture_subscription_passes_and_its_columns_are_read():
    sub = subscription()
    check_event(an_event("customer.subscription.updated", sub))
    assert subscription_columns(sub)["status"] == "active"
    assert orjson.loads(orjson.dumps(sub)) == sub
