"""Thin event destinations: what they are sent, read with stripe-python's own parser, and Stripe's rate limit."""

import pytest
import stripe

from tests.sandbox.helpers import SECRET, Receiver


@pytest.fixture
def thin_receiver(sandbox):
    r = Receiver()
    sandbox.sandbox.add_webhook_endpoint(r.url, SECRET, "thin")
    yield r
    r.stop()


def parsed(client: stripe.StripeClient, receiver: Receiver) -> list:
    """Every thin notification received, verified and parsed by stripe-python."""
    return [
        client.parse_event_notification(body, headers["Stripe-Signature"], SECRET)
        for body, headers in receiver.requests
    ]


def test_a_thin_destination_gets_notifications_stripe_python_parses_and_follows(sandbox, receiver, thin_receiver):
    client = sandbox.stripe_client()
    made = sandbox.sandbox.create_subscription("thin@example.com", "basic")
    assert sandbox.sandbox.wait_for_deliveries(5)
    snapshots = sandbox.sandbox.events()
    receiver.wait_for(len(snapshots))
    thin_receiver.wait_for(len(snapshots))  # both styles at once, as during a migration

    notes = parsed(client, thin_receiver)
    assert [n.type for n in notes] == ["v1." + e["type"] for e in snapshots]
    updated = next(n for n in notes if n.type == "v1.customer.subscription.updated")
    assert type(updated).__name__ == "V1CustomerSubscriptionUpdatedEventNotification"
    assert updated.related_object.id == made["subscription"]["id"]
    assert updated.fetch_related_object().status == "active"
    fetched = updated.fetch_event()
    assert fetched.snapshot_event in {e["id"] for e in snapshots}
    assert fetched.snapshot_event != fetched.id
    body, _ = thin_receiver.requests[0]
    assert b"data" not in body and b"api_version" not in body  # no snapshot, unversioned


def test_a_snapshot_parser_refuses_a_thin_body(sandbox, thin_receiver):
    sandbox.stripe_client().v1.customers.create(params={"email": "x@example.com"})
    thin_receiver.wait_for(1)
    body, headers = thin_receiver.requests[0]
    with pytest.raises(ValueError, match="thin event notification"):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)


def test_thin_deliveries_get_the_same_faults(sandbox, http, receiver, thin_receiver):
    http.post(sandbox.url + "/_sandbox/delivery", body={"duplicate": 1})
    sandbox.stripe_client().v1.customers.create(params={"email": "dup@example.com"})
    thin_receiver.wait_for(2)
    assert sandbox.sandbox.wait_for_deliveries(5)
    [first, second] = [body for body, _ in thin_receiver.requests]
    assert first == second


def test_an_unknown_thin_event_is_a_404(sandbox):
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.stripe_client().raw_request("get", "/v2/core/events/evt_nope")


def test_above_the_configured_rate_the_api_answers_429(sandbox, http):
    http.post(sandbox.url + "/_sandbox/rate_limit", body={"per_second": 3})
    client = sandbox.stripe_client()
    answers = []
    for _ in range(10):
        try:
            client.v1.prices.list()
            answers.append(200)
        except stripe.RateLimitError as exc:
            answers.append(exc.http_status)
    assert answers[:3] == [200, 200, 200] and 429 in answers[3:]
    state = http.get(sandbox.url + "/_sandbox/rate_limit").json()
    assert state["throttled"] == answers.count(429) and state["requests"] == 10
    http.post(sandbox.url + "/_sandbox/rate_limit", body={"per_second": None})
    client.v1.prices.list()
