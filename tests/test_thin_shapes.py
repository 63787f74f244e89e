"""Thin notifications at the webhook: accepted and queued, or refused with a 400 naming the field;
and the worker's own check of what reaches it, on both databases."""

from __future__ import annotations

import json
import time

import pytest

from shared.infra.models import StripeEvent
from shared.sync import inbox
from shared.sync.apply import EventApplier
from shared.sync.event_shape import storable_id
from shared.sync.inbox import Envelope
from tests.settings_helpers import WEBHOOK_SECRET
from tests.stripe_fixtures import sign
from tests.test_apply import UNREACHABLE_STRIPE
from tests.webhook_helpers import post


def notification(**changes) -> dict:
    body = {
        "id": "evt_thin_1",
        "object": "v2.core.event",
        "type": "v1.customer.subscription.updated",
        "created": "2026-12-05T05:35:22.123Z",
        "livemode": False,
        "related_object": {"id": "sub_1", "type": "subscription", "url": "/v1/subscriptions/sub_1"},
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not DROP}


DROP = object()
HOSTILE = [
    (dict(id="cus_1"), "id must be a Stripe event id"),
    (dict(id="evt_" + "x" * 300), "id must be a Stripe event id"),
    (dict(type=DROP), "type must be"),
    (dict(type="v1.customer subscription"), "type must be"),
    (dict(created=1_764_912_922), "created must be an RFC 3339 UTC time"),
    (dict(created="2026-12-05 05:35:22"), "created must be an RFC 3339 UTC time"),
    (dict(created="2026-02-31T00:00:00Z"), "created must be an RFC 3339 UTC time"),
    (dict(created="1999-01-01T00:00:00Z"), "created must be a time from 2010"),
    (dict(created=DROP), "created must be"),
    (dict(related_object=DROP), "related_object must be an object"),
    (dict(related_object=["sub_1"]), "related_object must be an object"),
    (dict(related_object={"type": "subscription"}), "related_object.id must be a Stripe subscription id"),
    (dict(related_object={"id": "in_1"}), "related_object.id must be a Stripe subscription id"),
    (dict(related_object={"id": "sub_1\x00"}), "related_object.id must be a Stripe subscription id"),
    (dict(type="v1.invoice.paid"), "related_object.id must be a Stripe invoice id"),
    (dict(type="v1.checkout.session.completed"), "related_object.id must be a Stripe checkout session id"),
    (dict(type="v1.customer.deleted"), "related_object.id must be a Stripe customer id"),
]


def deliver(client, body: dict):
    raw = json.dumps(body).encode()
    return post(client, raw, sign(raw, WEBHOOK_SECRET))


def test_a_signed_thin_notification_is_queued_with_its_type(web, redis_conn):
    response = deliver(web, notification())
    assert response.status_code == 200
    [(_, fields)] = redis_conn.xrange(inbox.STREAM_KEY)
    assert (fields[b"id"], fields[b"type"]) == (b"evt_thin_1", b"v1.customer.subscription.updated")


def test_a_thin_entitlement_summary_is_queued_without_a_related_object(web, redis_conn):
    body = notification(type="v1.entitlements.active_entitlement_summary.updated", related_object=None)
    assert deliver(web, body).status_code == 200  # a summary has no id: the worker follows its snapshot twin
    [(_, fields)] = redis_conn.xrange(inbox.STREAM_KEY)
    assert fields[b"type"] == b"v1.entitlements.active_entitlement_summary.updated"


def test_an_unhandled_thin_type_needs_only_a_sane_envelope(web, redis_conn):
    body = notification(type="v1.billing.meter.no_meter_found", related_object={"id": 7})
    assert deliver(web, body).status_code == 200


@pytest.mark.parametrize("changes, message", HOSTILE)
def test_an_unfit_thin_notification_is_refused_naming_the_field(web, redis_conn, changes, message):
    response = deliver(web, notification(**changes))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)
    assert inbox.depth(redis_conn) == 0


def test_a_thin_notification_with_a_bad_signature_is_refused_like_any(web, redis_conn):
    raw = json.dumps(notification()).encode()
    assert post(web, raw, sign(raw, "whsec_wrong")).status_code == 400
    assert inbox.depth(redis_conn) == 0


@pytest.mark.parametrize("changes, message", HOSTILE[:6] + HOSTILE[9:14])
def test_the_worker_records_an_unfit_notification_failed_alone(db, changes, message):
    bad = notification(**changes, id="evt_thin_bad") if "id" not in changes else notification(**changes)
    good = notification(id="evt_thin_good", type="v1.customer.subscription.trial_will_end")
    envelopes = [Envelope(storable_id(b["id"]), json.dumps(b), time.time(), str(i)) for i, b in enumerate([bad, good])]

    results = {r.event_id: r for r in EventApplier(UNREACHABLE_STRIPE).apply_batch(envelopes)}

    assert results["evt_thin_good"].outcome == "ignored"
    [failed] = [r for r in results.values() if r.event_id != "evt_thin_good"]
    assert failed.outcome == "failed" and message in failed.error
    assert StripeEvent.get_by_id(failed.event_id).outcome == "failed"
