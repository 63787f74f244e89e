"""The web refuses, with a 400 naming the field, a signed event the worker could never apply; nothing is queued."""

from __future__ import annotations

import json

import pytest

from shared.sync import inbox
from tests.hostile_events import BASES, SHAPES, hostile
from tests.settings_helpers import WEBHOOK_SECRET
from tests.stripe_fixtures import body_of, event, sign
from tests.webhook_helpers import post


def deliver(client, evt: dict):
    body = body_of(evt)
    return post(client, body, sign(body, WEBHOOK_SECRET))


@pytest.mark.parametrize("base, change, message", SHAPES)
def test_an_event_that_could_never_be_applied_is_refused_naming_the_field(
    web,
    redis_conn,
    base,
    change,  # noqa: F811
    message,
):
    response = deliver(web, hostile(base, change))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith(message) and "\n" not in error
    assert inbox.depth(redis_conn) == 0


@pytest.mark.parametrize(
    "body, message",
    [
        ({"id": "evt_1", "type": "x"}, "created must be"),
        (
            {"id": "cus_1", "type": "x", "created": 1_700_000_000, "data": {"object": {}}},
            "id must be a Stripe event id",
        ),
        ({"id": "evt_1", "created": 1_700_000_000, "data": {"object": {}}}, "type must be"),
        ({"id": "evt_1", "type": "x", "created": 1_700_000_000}, "data must be an object"),
        ({"id": "evt_1", "type": "x", "created": 1_700_000_000, "data": {}}, "data.object must be an object"),
    ],
)
def test_an_event_missing_its_envelope_is_refused(web, redis_conn, body, message):  # noqa: F811
    raw = json.dumps(body).encode()
    response = post(web, raw, sign(raw, WEBHOOK_SECRET))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)
    assert inbox.depth(redis_conn) == 0


@pytest.mark.parametrize("base", list(BASES))
def test_each_handled_shape_as_stripe_sends_it_is_accepted(web, redis_conn, base):  # noqa: F811
    assert deliver(web, BASES[base]()).status_code == 200
    assert inbox.depth(redis_conn) == 1


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "prod_1", "object": "product"},
        {"id": "cus_1", "object": "customer", "email": "a\x00b"},  # not a type the worker reads: only recorded
        {"id": "pi_1", "customer": ["odd"], "amount": 2**70},
    ],
)
def test_types_the_worker_does_not_handle_need_only_a_sane_envelope(web, redis_conn, obj):  # noqa: F811
    assert deliver(web, event("some.future.event", obj)).status_code == 200


def test_expanded_references_and_absent_optional_fields_are_accepted(web, redis_conn):  # noqa: F811
    evt = BASES["subscription"]()
    obj = evt["data"]["object"]
    obj["customer"] = {"id": "cus_EXP", "object": "customer"}
    obj["items"]["data"][0]["price"]["product"] = {"id": "prod_custom-id.v2", "object": "product"}
    obj["items"]["data"][0]["quantity"] = None
    del obj["trial_end"]
    assert deliver(web, evt).status_code == 200


def test_refusals_are_counted_with_their_reason(web, redis_conn):  # noqa: F811
    from shared.ops.metrics import WEBHOOKS

    before = WEBHOOKS.labels("unfit_event")._value.get()
    deliver(web, hostile(*SHAPES[0].values[:2]))
    assert WEBHOOKS.labels("unfit_event")._value.get() == before + 1
