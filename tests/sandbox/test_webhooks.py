"""Webhook delivery: signing, retries, and each fault-injection mode."""

import time

import pytest
import stripe

from tests.sandbox.helpers import Receiver


def make_events(sandbox, count: int = 3) -> list[str]:
    """``count`` customers created through the sandbox: one event each."""
    client = sandbox.stripe_client()
    for i in range(count):
        client.v1.customers.create(params={"email": f"e{i}@example.com"})
    return [e["id"] for e in sandbox.sandbox.events("customer.created")]


def received_ids(receiver) -> list[str]:
    return [event.id for event in receiver.events()]


def test_signature_and_headers(sandbox, receiver):
    ids = make_events(sandbox, 1)
    receiver.wait_for(1)
    body, headers = receiver.requests[0]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Stripe-Signature"].startswith("t=") and ",v1=" in headers["Stripe-Signature"]
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], receiver.secret)
    assert event.id == ids[0] and event.api_version == "2026-10-28.endive"
    assert event.object == "event" and event.livemode is False
    assert event.request.id.startswith("req_")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_wrong")


def test_body_matches_events_api(sandbox, receiver):
    ids = make_events(sandbox, 1)
    receiver.wait_for(1)
    body, _ = receiver.requests[0]
    assert body == sandbox.sandbox.dispatcher.body(ids[0])


def test_event_snapshot_never_changes(sandbox, receiver):
    client = sandbox.stripe_client()
    cus = client.v1.customers.create(params={"email": "old@example.com"})
    client.v1.customers.update(cus.id, params={"email": "new@example.com"})
    created = client.v1.events.list(params={"type": "customer.created"}).data[0]
    updated = client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert created.data.object.email == "old@example.com"
    assert updated.data.object.email == "new@example.com"
    assert updated.data.previous_attributes.email == "old@example.com"


def test_runtime_endpoint_gets_its_own_secret(sandbox, http):
    other = Receiver(secret="unset")
    try:
        reply = http.post(sandbox.url + "/_sandbox/webhook_endpoints", body={"url": other.url})
        other.secret = reply.json()["secret"]
        assert other.secret.startswith("whsec_")
        make_events(sandbox, 1)
        other.wait_for(1)
        assert other.types() == ["customer.created"]
    finally:
        other.stop()


def test_failed_delivery_is_retried(sandbox, receiver):
    receiver.statuses = [500, 500]
    ids = make_events(sandbox, 1)
    receiver.wait_for(1)
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert received_ids(receiver) == ids and receiver.rejected == 2
    status = sandbox.sandbox.dispatcher.status(ids[0])
    assert [a["status"] for a in status["attempts"]] == [500, 500, 200]
    assert status["delivery_success"] is True


def test_gives_up_after_the_schedule(sandbox, receiver):
    receiver.statuses = [500] * 10
    ids = make_events(sandbox, 1)
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert receiver.rejected == 4  # first attempt + one per retry delay
    client = sandbox.stripe_client()
    failed = client.v1.events.list(params={"delivery_success": False})
    assert [e.id for e in failed.data] == ids and failed.data[0].pending_webhooks == 1


def test_unreachable_endpoint_counts_as_failure(sandbox, receiver, http):
    http.post(sandbox.url + "/_sandbox/webhook_endpoints", body={"url": "http://127.0.0.1:9/x"})
    ids = make_events(sandbox, 1)
    assert sandbox.sandbox.wait_for_deliveries(5)
    attempts = sandbox.sandbox.dispatcher.status(ids[0])["attempts"]
    assert any(a["error"] for a in attempts)
    assert sandbox.sandbox.dispatcher.delivery_success(ids[0]) is False


def test_duplicate(sandbox, receiver, http):
    http.post(sandbox.url + "/_sandbox/delivery", body={"duplicate": 2})
    ids = make_events(sandbox, 2)
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert received_ids(receiver) == [ids[0]] * 3 + [ids[1]] * 3


@pytest.mark.parametrize("order", ["reverse", "shuffle", "created"])
def test_hold_then_flush_in_order(sandbox, receiver, http, order):
    http.post(sandbox.url + "/_sandbox/delivery", body={"hold": True, "order": order})
    ids = make_events(sandbox, 6)
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert receiver.requests == []
    assert http.get(sandbox.url + "/_sandbox/delivery").json()["held"] == 6
    released = http.post(sandbox.url + "/_sandbox/delivery/flush").json()["released"]
    assert released == 6
    assert http.post(sandbox.url + "/_sandbox/deliveries/wait", body={"timeout": 5}).status == 200
    got = received_ids(receiver)
    assert sorted(got) == sorted(ids)
    if order == "reverse":
        assert got == ids[::-1]
    elif order == "created":
        assert got == ids


def test_shuffle_eventually_differs(sandbox, receiver):
    # Shuffling 8 events keeps creation order with probability 1/40320.
    sandbox.sandbox.configure_delivery(hold=True, order="shuffle")
    ids = make_events(sandbox, 8)
    sandbox.sandbox.dispatcher.flush()
    receiver.wait_for(8)
    assert received_ids(receiver) != ids


def test_delay(sandbox, receiver):
    sandbox.sandbox.configure_delivery(delay_seconds=0.3)
    started = time.monotonic()
    make_events(sandbox, 1)
    receiver.wait_for(1)
    assert time.monotonic() - started >= 0.3


def test_fail_next(sandbox, receiver):
    sandbox.sandbox.configure_delivery(fail_next=2)
    ids = make_events(sandbox, 1)
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert received_ids(receiver) == ids and receiver.rejected == 0
    attempts = sandbox.sandbox.dispatcher.status(ids[0])["attempts"]
    assert [a["injected"] for a in attempts] == [True, True, False]


def test_drop(sandbox, receiver, http):
    http.post(sandbox.url + "/_sandbox/delivery", body={"drop": True})
    ids = make_events(sandbox, 2)
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert receiver.requests == []
    client = sandbox.stripe_client()
    undelivered = client.v1.events.list(params={"delivery_success": False})
    assert sorted(e.id for e in undelivered.data) == sorted(ids)
    assert client.v1.events.list(params={"delivery_success": True}).data == []
    listing = http.get(sandbox.url + "/_sandbox/events").json()["data"]
    assert all(e["delivery_success"] is False for e in listing)


def test_settings_are_bounded_and_resettable(sandbox, http):
    assert http.post(sandbox.url + "/_sandbox/delivery", body={"duplicate": 1000}).status == 400
    assert http.post(sandbox.url + "/_sandbox/delivery", body={"order": "random"}).status == 400
    assert http.post(sandbox.url + "/_sandbox/delivery", body={"nope": 1}).status == 400
    http.post(sandbox.url + "/_sandbox/delivery", body={"drop": True, "duplicate": 3})
    reset = http.post(sandbox.url + "/_sandbox/reset_delivery").json()
    assert reset["faults"] == {
        "duplicate": 0,
        "order": "created",
        "hold": False,
        "delay_seconds": 0.0,
        "fail_next": 0,
        "drop": False,
    }


def test_events_list_filters(sandbox):
    client = sandbox.stripe_client()
    sandbox.sandbox.create_subscription("f@example.com", "basic")
    assert sandbox.sandbox.wait_for_deliveries(5)
    subs = client.v1.events.list(params={"type": "customer.subscription.*"})
    assert [e.type for e in subs.data] == ["customer.subscription.updated", "customer.subscription.created"]
    both = client.v1.events.list(params={"types": ["invoice.paid", "customer.created"]})
    assert {e.type for e in both.data} == {"invoice.paid", "customer.created"}
    now = sandbox.sandbox.clock.now()
    assert client.v1.events.list(params={"created": {"gt": now}}).data == []
    assert len(client.v1.events.list(params={"created": {"lte": now}, "limit": 100}).data) == 11
    first = client.v1.events.list(params={"limit": 1}).data[0]
    assert client.v1.events.retrieve(first.id).type == first.type


def test_wait_times_out_while_deliveries_are_late(sandbox, http, receiver):
    sandbox.sandbox.configure_delivery(delay_seconds=0.5)
    make_events(sandbox, 1)
    reply = http.post(sandbox.url + "/_sandbox/deliveries/wait", body={"timeout": 0.1})
    assert reply.status == 408 and reply.json()["idle"] is False
    assert http.post(sandbox.url + "/_sandbox/deliveries/wait", body={"timeout": 5}).status == 200
    assert len(receiver.requests) == 1


def test_every_endpoint_gets_every_event(sandbox, http, receiver):
    other = Receiver(secret="whsec_other")
    try:
        endpoint = http.post(
            sandbox.url + "/_sandbox/webhook_endpoints", body={"url": other.url, "secret": other.secret}
        ).json()
        ids = make_events(sandbox, 2)
        assert sandbox.sandbox.wait_for_deliveries(5)
        assert received_ids(receiver) == ids and received_ids(other) == ids
        listing = http.get(sandbox.url + "/_sandbox/webhook_endpoints").json()
        assert {e["url"] for e in listing} == {receiver.url, other.url}
        http.request("DELETE", sandbox.url + f"/_sandbox/webhook_endpoints/{endpoint['id']}")
        make_events(sandbox, 3)
        assert sandbox.sandbox.wait_for_deliveries(5)
        assert len(other.requests) == 2 and len(receiver.requests) == 5
    finally:
        other.stop()


def test_control_events_listing(sandbox, http, receiver):
    receiver.statuses = [503]
    ids = make_events(sandbox, 1)
    assert sandbox.sandbox.wait_for_deliveries(5)
    listed = http.get(sandbox.url + "/_sandbox/events?type=customer.created").json()["data"]
    assert [e["id"] for e in listed] == ids
    assert [a["status"] for a in listed[0]["attempts"]] == [503, 200]
    assert listed[0]["delivery_success"] is True
    assert list(listed[0]["outcome"].values()) == ["succeeded"]


def test_run_in_thread_generates_a_shared_secret():
    from stripe_sandbox.server import run_in_thread

    other = Receiver(secret="unset")
    try:
        with run_in_thread(webhook_urls=[other.url]) as handle:
            assert handle.webhook_secret.startswith("whsec_")
            other.secret = handle.webhook_secret
            handle.stripe_client().v1.customers.create(params={"email": "s@example.com"})
            other.wait_for(1)
            assert other.types() == ["customer.created"]
    finally:
        other.stop()
