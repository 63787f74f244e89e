"""Subscriptions and invoices through the API, and the test clock."""

import urllib.request

import pytest
import stripe

from stripe_sandbox.entitlements import SUMMARY_EVENT as ENTITLEMENTS_UPDATED

MONTH = 31 * 86400


def types_since(sandbox, before: int) -> list[str]:
    return [e["type"] for e in sandbox.sandbox.events()[before:]]


def test_subscription_shape(client, subscribed):
    sub = client.v1.subscriptions.retrieve(subscribed["subscription"]["id"])
    assert sub.id.startswith("sub_") and sub.object == "subscription"
    assert sub.status == "active" and sub.livemode is False
    assert sub.customer == subscribed["customer"]["id"]
    item = sub["items"].data[0]
    assert item.id.startswith("si_") and item.price.lookup_key == "basic"
    assert item.price.product == "prod_sbx_basic" and item.price.unit_amount == 900
    assert item.plan.amount == 900 and item.quantity == 1
    assert item.current_period_start == sub.start_date
    assert sub.cancel_at_period_end is False and sub.canceled_at is None
    assert sub.latest_invoice.startswith("in_")


def test_list_filters(client, sandbox):
    a = sandbox.sandbox.create_subscription("a@example.com", "basic")["subscription"]
    b = sandbox.sandbox.create_subscription("b@example.com", "pro")["subscription"]
    client.v1.subscriptions.cancel(a["id"])
    assert [s.id for s in client.v1.subscriptions.list().data] == [b["id"]]
    everything = client.v1.subscriptions.list(params={"status": "all"})
    assert [s.id for s in everything.data] == [b["id"], a["id"]]
    assert [s.id for s in client.v1.subscriptions.list(params={"status": "canceled"}).data] == [a["id"]]
    by_price = client.v1.subscriptions.list(params={"price": "price_sbx_pro"})
    assert [s.id for s in by_price.data] == [b["id"]]
    by_customer = client.v1.subscriptions.list(params={"customer": b["customer"]})
    assert [s.id for s in by_customer.data] == [b["id"]]


def test_cancel_at_period_end_and_undo(client, sandbox, subscribed):
    sub_id = subscribed["subscription"]["id"]
    before = len(sandbox.sandbox.events())
    sub = client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    end = sub["items"].data[0].current_period_end
    assert sub.cancel_at_period_end is True and sub.cancel_at == end
    assert sub.status == "active" and sub.canceled_at is not None
    sub = client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    assert sub.cancel_at is None and sub.canceled_at is None
    events = sandbox.sandbox.events()[before:]
    assert [e["type"] for e in events] == ["customer.subscription.updated"] * 2
    assert events[0]["data"]["previous_attributes"]["cancel_at_period_end"] is False
    assert events[1]["data"]["previous_attributes"]["cancel_at"] == end


def test_cancel_at_a_date(client, subscribed):
    sub_id = subscribed["subscription"]["id"]
    end = subscribed["subscription"]["items"]["data"][0]["current_period_end"]
    sub = client.v1.subscriptions.update(sub_id, params={"cancel_at": end - 86400})
    assert sub.cancel_at == end - 86400 and sub.cancel_at_period_end is False
    sub = client.v1.subscriptions.update(sub_id, params={"cancel_at": ""})
    assert sub.cancel_at is None


def test_switch_price_with_invoice(client, sandbox, subscribed):
    sub = subscribed["subscription"]
    item = sub["items"]["data"][0]
    before = len(sandbox.sandbox.events())
    updated = client.v1.subscriptions.update(
        sub["id"],
        params={
            "items": [{"id": item["id"], "price": "price_sbx_pro"}],
            "proration_behavior": "always_invoice",
            "metadata": {"plan": "pro"},
        },
    )
    assert updated["items"].data[0].price.lookup_key == "pro"
    assert updated["items"].data[0].id == item["id"]
    assert updated.metadata["plan"] == "pro"
    assert types_since(sandbox, before) == [
        "customer.subscription.updated",
        ENTITLEMENTS_UPDATED,
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    event = sandbox.sandbox.events("customer.subscription.updated")[-1]
    previous = event["data"]["previous_attributes"]
    assert previous["items"]["data"][0]["price"]["lookup_key"] == "basic"
    assert previous["metadata"] == {}
    invoice = client.v1.invoices.retrieve(updated.latest_invoice)
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    assert 0 < invoice.amount_paid <= 2000


def test_switch_price_without_invoice(client, sandbox, subscribed):
    sub = subscribed["subscription"]
    before = len(sandbox.sandbox.events())
    client.v1.subscriptions.update(
        sub["id"],
        params={
            "items": [{"id": sub["items"]["data"][0]["id"], "price": "price_sbx_pro"}],
            "proration_behavior": "none",
        },
    )
    assert types_since(sandbox, before) == ["customer.subscription.updated", ENTITLEMENTS_UPDATED]


@pytest.mark.parametrize(
    "params, param, status",
    [
        ({"items": [{"id": "si_nope", "price": "price_sbx_pro"}]}, "items", 400),
        ({"items": [{"price": "price_sbx_pro"}]}, "items[0][id]", 400),
        ({"cancel_at_period_end": "maybe"}, "cancel_at_period_end", 400),
        ({"proration_behavior": "sometimes"}, "proration_behavior", 400),
        ({"bogus": "1"}, "bogus", 400),
    ],
)
def test_update_refusals(client, subscribed, params, param, status):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.subscriptions.update(subscribed["subscription"]["id"], params=params)
    assert caught.value.http_status == status and caught.value.param == param


def test_unknown_price_in_items(client, subscribed):
    item_id = subscribed["subscription"]["items"]["data"][0]["id"]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.subscriptions.update(
            subscribed["subscription"]["id"], params={"items": [{"id": item_id, "price": "price_nope"}]}
        )
    assert caught.value.code == "resource_missing" and caught.value.param == "items[0][price]"


def test_cancel_now(client, sandbox, subscribed):
    before = len(sandbox.sandbox.events())
    sub = client.v1.subscriptions.cancel(subscribed["subscription"]["id"])
    assert sub.status == "canceled" and sub.canceled_at == sub.ended_at
    assert sub.cancellation_details.reason == "cancellation_requested"
    assert types_since(sandbox, before) == ["customer.subscription.deleted", ENTITLEMENTS_UPDATED]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})


def test_invoices(client, subscribed):
    sub_id = subscribed["subscription"]["id"]
    invoices = client.v1.invoices.list(params={"subscription": sub_id})
    assert len(invoices.data) == 1
    invoice = invoices.data[0]
    assert invoice.id.startswith("in_") and invoice.status == "paid"
    assert invoice.amount_due == invoice.amount_paid == 900 and invoice.currency == "usd"
    assert invoice.parent.subscription_details.subscription == sub_id
    assert "subscription" not in invoice
    assert invoice.lines.data[0].id.startswith("il_")
    assert invoice.number.endswith("-0001")
    assert client.v1.invoices.list(params={"customer": invoice.customer}).data[0].id == invoice.id
    page = urllib.request.urlopen(invoice.hosted_invoice_url).read().decode()
    assert invoice.number in page and "Test sandbox — not Stripe" in page
    pdf = urllib.request.urlopen(invoice.invoice_pdf).read()
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")


def test_catalogue(client):
    prices = client.v1.prices.list(params={"lookup_keys": ["pro"], "expand": ["data.product"]})
    assert [p.id for p in prices.data] == ["price_sbx_pro"]
    assert prices.data[0].product.name == "Pro"
    assert len(client.v1.prices.list(params={"active": True}).data) == 2
    assert client.v1.prices.list(params={"product": "prod_sbx_basic"}).data[0].unit_amount == 900
    assert client.v1.products.retrieve("prod_sbx_pro").default_price == "price_sbx_pro"
    assert {p.name for p in client.v1.products.list().data} == {"Basic", "Pro"}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.prices.list(params={"expand": ["data.nope"]})
    assert caught.value.http_status == 400


# -- the test clock -------------------------------------------------------------
def advance(http, sandbox, seconds: int) -> list[str]:
    reply = http.post(sandbox.url + "/_sandbox/clock/advance", body={"seconds": seconds})
    assert reply.status == 200
    return [e["type"] for e in reply.json()["events"]]


def test_clock_renews(client, sandbox, http, subscribed):
    sub = subscribed["subscription"]
    end = sub["items"]["data"][0]["current_period_end"]
    assert advance(http, sandbox, 3600) == []
    assert advance(http, sandbox, MONTH) == [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    renewed = client.v1.subscriptions.retrieve(sub["id"])
    item = renewed["items"].data[0]
    assert item.current_period_start == end and item.current_period_end > end
    assert renewed.status == "active"
    invoice = client.v1.invoices.retrieve(renewed.latest_invoice)
    assert invoice.billing_reason == "subscription_cycle" and invoice.amount_paid == 900
    assert invoice.created == end
    event = sandbox.sandbox.events("customer.subscription.updated")[-1]
    assert event["created"] == end
    assert event["data"]["previous_attributes"]["items"]["data"][0]["current_period_end"] == end


def test_clock_crosses_several_periods(sandbox, http, subscribed):
    types = advance(http, sandbox, 3 * MONTH)
    assert types.count("invoice.paid") == 3


def test_clock_ends_pending_cancellation(client, sandbox, http, subscribed):
    sub_id = subscribed["subscription"]["id"]
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    assert advance(http, sandbox, MONTH) == ["customer.subscription.deleted", ENTITLEMENTS_UPDATED]
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "canceled" and sub.ended_at == sub.cancel_at


def test_clock_ends_trial(client, sandbox, http):
    created = sandbox.sandbox.create_subscription("trial@example.com", "pro", trial_days=7)
    assert created["subscription"]["status"] == "trialing"
    trial_end = created["subscription"]["trial_end"]
    assert advance(http, sandbox, 3 * 86400) == []
    assert advance(http, sandbox, 86400 + 60) == ["customer.subscription.trial_will_end"]
    warning = sandbox.sandbox.events("customer.subscription.trial_will_end")[0]
    assert warning["created"] == trial_end - 3 * 86400
    types = advance(http, sandbox, 3 * 86400)
    assert types[0] == "customer.subscription.updated" and "invoice.paid" in types
    sub = client.v1.subscriptions.retrieve(created["subscription"]["id"])
    assert sub.status == "active"
    assert client.v1.invoices.retrieve(sub.latest_invoice).amount_paid == 2900
    event = sandbox.sandbox.events("customer.subscription.updated")[-1]
    assert event["data"]["previous_attributes"]["status"] == "trialing"


def test_clock_refuses_bad_input(sandbox, http):
    for body in ({"seconds": -1}, {"seconds": "x"}, {}):
        assert http.post(sandbox.url + "/_sandbox/clock/advance", body=body).status == 400


def test_fail_payment(client, sandbox, http, subscribed):
    sub_id = subscribed["subscription"]["id"]
    reply = http.post(sandbox.url + f"/_sandbox/subscriptions/{sub_id}/fail_payment")
    assert reply.status == 200
    invoice = reply.json()["invoice"]
    assert invoice["status"] == "open" and invoice["attempt_count"] == 1
    assert types_since(sandbox, -4) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "past_due" and sub.latest_invoice == invoice["id"]
    assert http.post(sandbox.url + "/_sandbox/subscriptions/sub_nope/fail_payment").status == 404


def test_control_create_subscription(sandbox, http, client):
    reply = http.post(
        sandbox.url + "/_sandbox/subscriptions",
        body={"customer_email": "direct@example.com", "price": "pro", "client_reference_id": "u5"},
    )
    assert reply.status == 200
    body = reply.json()
    assert body["subscription"]["status"] == "active"
    assert body["checkout_session"]["client_reference_id"] == "u5"
    assert len(body["events"]) == 11  # a paid checkout's ten, and the entitlements it grants
    assert client.v1.events.retrieve(body["events"][-1]).type == "checkout.session.completed"
    assert http.post(sandbox.url + "/_sandbox/subscriptions", body={"price": "pro"}).status == 400
    assert (
        http.post(
            sandbox.url + "/_sandbox/subscriptions", body={"customer_email": "x@example.com", "price": "gold"}
        ).status
        == 400
    )


def test_events_older_than_30_days_are_forgotten(client, sandbox, http):
    client.v1.customers.create(params={"email": "old@example.com"})
    advance(http, sandbox, 29 * 86400)
    assert len(client.v1.events.list().data) == 1
    advance(http, sandbox, 2 * 86400)
    assert client.v1.events.list().data == []


def test_reset(client, sandbox, http, subscribed):
    advance(http, sandbox, 3600)
    summary = http.post(sandbox.url + "/_sandbox/reset").json()
    assert summary["clock_offset"] == 0
    assert summary["objects"]["customers"] == 0 and summary["objects"]["events"] == 0
    assert summary["prices"] == {"basic": "price_sbx_basic", "pro": "price_sbx_pro"}
    assert len(client.v1.billing_portal.configurations.list().data) == 1


def test_canceled_subscription_keeps_taking_metadata(client, subscribed):
    sub_id = subscribed["subscription"]["id"]
    client.v1.subscriptions.cancel(sub_id)
    sub = client.v1.subscriptions.update(sub_id, params={"metadata": {"note": "gone"}})
    assert sub.metadata["note"] == "gone" and sub.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub_id)


def test_repeating_cancel_at_period_end_changes_nothing(client, sandbox, subscribed):
    sub_id = subscribed["subscription"]["id"]
    first = client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    count = len(sandbox.sandbox.events())
    again = client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    assert again.canceled_at == first.canceled_at
    assert len(sandbox.sandbox.events()) == count


def test_clock_renews_before_a_later_cancel_at(client, sandbox, http, subscribed):
    sub_id = subscribed["subscription"]["id"]
    end = subscribed["subscription"]["items"]["data"][0]["current_period_end"]
    client.v1.subscriptions.update(sub_id, params={"cancel_at": end + 10 * 86400})
    types = advance(http, sandbox, 2 * MONTH)
    assert types.count("invoice.paid") == 1 and types[-2:] == ["customer.subscription.deleted", ENTITLEMENTS_UPDATED]
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "canceled" and sub.ended_at == end + 10 * 86400


def test_short_trial_warning_is_dated_at_trial_start(sandbox, http):
    created = sandbox.sandbox.create_subscription("short@example.com", "basic", trial_days=1)
    types = advance(http, sandbox, 2 * 86400)
    assert types[0] == "customer.subscription.trial_will_end"
    assert types[1] == "customer.subscription.updated"
    warning = sandbox.sandbox.events("customer.subscription.trial_will_end")[0]
    assert warning["created"] == created["subscription"]["trial_start"]
