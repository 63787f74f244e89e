"""Checkout Sessions: the API, the hosted page, and the webhooks a payment sends."""

import re

import pytest
import stripe

CHECKOUT_EVENTS = [
    "customer.created",
    "payment_method.attached",
    "customer.updated",
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "customer.subscription.updated",
    "entitlements.active_entitlement_summary.updated",  # active now: the product's features
    "checkout.session.completed",
]


def new_session(client, **extra):
    params = {
        "mode": "subscription",
        "success_url": "http://app.test/ok?cs={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://app.test/pricing",
        "line_items": [{"price": "price_sbx_pro", "quantity": 1}],
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params)


def test_create_session_shape(client, sandbox):
    session = new_session(
        client, customer_email="c@example.com", client_reference_id="user-9", metadata={"user_id": "9"}
    )
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert session.status == "open" and session.payment_status == "unpaid"
    assert session.mode == "subscription" and session.subscription is None
    assert session.client_reference_id == "user-9" and session.customer_email == "c@example.com"
    assert session.url == f"{sandbox.url}/c/pay/{session.id}"
    assert session.expires_at == session.created + 24 * 3600


@pytest.mark.parametrize(
    "params, param",
    [
        ({"mode": "payment"}, "mode"),
        ({"mode": None}, "mode"),
        ({"success_url": None}, "success_url"),
        ({"line_items": None}, "line_items"),
        ({"line_items": [{"quantity": 1}]}, "line_items[0][price]"),
        ({"line_items": [{"price": "price_nope"}]}, "line_items[0][price]"),
        ({"customer": "cus_nope"}, "customer"),
        ({"customer_email": "a@b.c", "customer": "cus_x"}, "customer_email"),
        ({"subscription_data": {"trial_period_days": "x"}}, "subscription_data[trial_period_days]"),
    ],
)
def test_create_session_refusals(client, params, param):
    base = {"mode": "subscription", "success_url": "http://app.test/ok", "line_items": [{"price": "price_sbx_basic"}]}
    merged = {k: v for k, v in {**base, **params}.items() if v is not None}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=merged)
    assert caught.value.http_status == 400 and caught.value.param == param


def test_pay_on_hosted_page(client, sandbox, http, receiver):
    session = new_session(client, customer_email="pay@example.com", client_reference_id="u1")
    page = http.get(session.url)
    assert page.status == 200 and "Test sandbox — not Stripe" in page.text
    assert "Pay with test card 4242" in page.text and "$29.00" in page.text
    reply = http.post(session.url, form={"card": "4242 4242 4242 4242", "action": "pay"})
    assert reply.status == 303
    assert reply.headers["Location"] == f"http://app.test/ok?cs={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription", "customer"]})
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.customer.email == "pay@example.com"
    assert done.customer_details.email == "pay@example.com"
    assert done.subscription.status == "active"
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert receiver.types() == CHECKOUT_EVENTS


def test_checkout_webhooks_created_and_updated_share_a_second(client, sandbox, http, receiver):
    session = new_session(client, customer_email="same@example.com")
    http.post(session.url, form={"action": "pay", "card": "4242424242424242"})
    assert sandbox.sandbox.wait_for_deliveries(5)
    events = {e.type: e for e in receiver.events()}
    created = events["customer.subscription.created"]
    updated = events["customer.subscription.updated"]
    assert created.created == updated.created
    assert created.data.object.status == "incomplete"
    assert updated.data.object.status == "active"
    assert updated.data.previous_attributes.status == "incomplete"
    item = updated.data.object["items"].data[0]
    assert item.current_period_end > item.current_period_start
    assert "current_period_end" not in updated.data.object
    completed = events["checkout.session.completed"].data.object
    assert completed.subscription == updated.data.object.id
    invoice = events["invoice.paid"].data.object
    assert invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details.subscription == completed.subscription
    assert invoice.amount_paid == 2900 and invoice.billing_reason == "subscription_create"


def test_trial_checkout(client, sandbox, http):
    session = new_session(
        client, customer_email="t@example.com", subscription_data={"trial_period_days": 14, "metadata": {"k": "v"}}
    )
    http.post(session.url, form={"action": "pay", "card": "4242424242424242"})
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    sub = done.subscription
    assert sub.status == "trialing" and sub.metadata["k"] == "v"
    assert sub.trial_end - sub.trial_start == 14 * 86400
    assert sub["items"].data[0].current_period_end == sub.trial_end
    assert done.payment_status == "no_payment_required"
    assert client.v1.invoices.retrieve(sub.latest_invoice).amount_paid == 0


def test_existing_customer_is_reused(client, http):
    cus = client.v1.customers.create(params={"email": "known@example.com"})
    session = new_session(client, customer=cus.id)
    assert "known@example.com" in http.get(session.url).text
    http.post(session.url, form={"action": "pay", "card": "4242424242424242"})
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.customer == cus.id
    assert len(client.v1.customers.list().data) == 1


def test_email_is_asked_when_unknown(client, http):
    session = new_session(client)
    assert http.post(session.url, form={"action": "pay", "card": "4242424242424242"}).status == 400
    reply = http.post(session.url, form={"action": "pay", "card": "4242424242424242", "email": "typed@example.com"})
    assert reply.status == 303
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["customer"]})
    assert done.customer.email == "typed@example.com"


def test_decline_sends_nothing(client, sandbox, http, receiver):
    session = new_session(client, customer_email="no@example.com")
    reply = http.post(session.url, form={"action": "decline"})
    assert reply.status == 402 and "Your card was declined" in reply.text
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert receiver.requests == [] and sandbox.sandbox.events() == []
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_back_link_goes_to_cancel_url(client, http):
    session = new_session(client, customer_email="b@example.com")
    page = http.get(session.url).text
    assert re.search(r'href="http://app.test/pricing">[^<]*Back', page)


def test_paid_session_cannot_be_paid_twice(client, http):
    session = new_session(client, customer_email="twice@example.com")
    http.post(session.url, form={"action": "pay", "card": "4242424242424242"})
    reply = http.post(session.url, form={"action": "pay", "card": "4242424242424242"})
    assert reply.status == 400
    assert len(client.v1.subscriptions.list().data) == 1


def test_open_session_expires_with_the_clock(client, sandbox, http):
    session = new_session(client, customer_email="late@example.com")
    reply = http.post(sandbox.url + "/_sandbox/clock/advance", body={"seconds": 25 * 3600})
    assert [e["type"] for e in reply.json()["events"]] == ["checkout.session.expired"]
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    page = http.get(f"{sandbox.url}/c/pay/{session.id}")
    assert "expired" in page.text and "Pay with test card" not in page.text


def test_expand_line_items_and_nested(client, http):
    session = new_session(client, customer_email="x@example.com")
    http.post(session.url, form={"action": "pay", "card": "4242424242424242"})
    done = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["line_items", "subscription.items.data.price.product"]}
    )
    item = done.line_items.data[0]
    assert item.price.id == "price_sbx_pro" and item.quantity == 1 and item.amount_total == 2900
    assert done.subscription["items"].data[0].price.product.name == "Pro"
    again = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    assert again.line_items.data[0].id == item.id
    cus = client.v1.customers.retrieve(done.subscription.customer, params={"expand": ["subscriptions"]})
    assert [s.id for s in cus.subscriptions.data] == [done.subscription.id]
