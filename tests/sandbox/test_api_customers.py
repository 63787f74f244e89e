"""Customers over real HTTP with stripe-python, plus auth, errors, idempotency."""

import pytest
import stripe

from stripe_sandbox.entitlements import SUMMARY_EVENT as ENTITLEMENTS_UPDATED


def test_create_retrieve_update_list(client):
    cus = client.v1.customers.create(params={"email": "a@example.com", "name": "A", "metadata": {"user_id": "7"}})
    assert cus.id.startswith("cus_") and cus.object == "customer"
    assert cus.livemode is False and cus.metadata["user_id"] == "7"
    same = client.v1.customers.retrieve(cus.id)
    assert same.email == "a@example.com"
    updated = client.v1.customers.update(cus.id, params={"name": "B", "metadata": {"user_id": "", "plan": "x"}})
    assert updated.name == "B" and updated.metadata.to_dict() == {"plan": "x"}
    client.v1.customers.create(params={"email": "other@example.com"})
    found = client.v1.customers.list(params={"email": "a@example.com"})
    assert [c.id for c in found.data] == [cus.id]
    assert found.url == "/v1/customers" and found.has_more is False


def test_list_is_newest_first_and_paginates(client):
    ids = [client.v1.customers.create(params={"email": f"{i}@example.com"}).id for i in range(5)]
    first = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in first.data] == ids[::-1][:2] and first.has_more
    rest = client.v1.customers.list(params={"limit": 10, "starting_after": first.data[-1].id})
    assert [c.id for c in rest.data] == ids[::-1][2:] and not rest.has_more
    everything = [c.id for c in client.v1.customers.list(params={"limit": 2}).auto_paging_iter()]
    assert everything == ids[::-1]


def test_delete_cancels_subscriptions_then_deletes(client, sandbox, subscribed, receiver):
    receiver.wait_for(len(subscribed["events"]))
    receiver.clear()
    cus_id = subscribed["customer"]["id"]
    deleted = client.v1.customers.delete(cus_id)
    assert deleted.deleted is True and deleted.id == cus_id
    assert sandbox.sandbox.wait_for_deliveries(5)
    assert receiver.types() == ["customer.subscription.deleted", ENTITLEMENTS_UPDATED, "customer.deleted"]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.retrieve(cus_id)
    assert caught.value.http_status == 404


def test_set_default_payment_method(client, subscribed):
    cus_id = subscribed["customer"]["id"]
    pm_id = subscribed["subscription"]["default_payment_method"]
    cus = client.v1.customers.update(
        cus_id,
        params={
            "invoice_settings": {"default_payment_method": pm_id},
            "expand": ["invoice_settings.default_payment_method"],
        },
    )
    assert cus.invoice_settings.default_payment_method.card.last4 == "4242"


def test_default_payment_method_must_exist(client, subscribed):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.update(
            subscribed["customer"]["id"],
            params={"name": "Changed", "invoice_settings": {"default_payment_method": "pm_nope"}},
        )
    assert client.v1.customers.retrieve(subscribed["customer"]["id"]).name is None
    assert caught.value.http_status == 400
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "invoice_settings[default_payment_method]"


# -- error shapes, checked on the raw wire -------------------------------------
AUTH = {"Authorization": "Bearer sk_test_123"}


def test_unknown_parameter(http, sandbox):
    reply = http.post(sandbox.url + "/v1/customers", form={"foo": "1"}, headers=AUTH)
    assert reply.status == 400
    assert reply.json() == {
        "error": {"type": "invalid_request_error", "message": "Received unknown parameter: foo", "param": "foo"}
    }


def test_unknown_nested_parameter(http, sandbox):
    reply = http.post(
        sandbox.url + "/v1/checkout/sessions",
        headers=AUTH,
        form={
            "mode": "subscription",
            "success_url": "http://x",
            "line_items[0][price]": "price_sbx_basic",
            "line_items[0][bogus]": "1",
        },
    )
    assert reply.status == 400
    assert reply.json()["error"]["param"] == "line_items[0][bogus]"


def test_missing_resource_is_404(http, sandbox):
    reply = http.get(sandbox.url + "/v1/subscriptions/sub_123", headers=AUTH)
    assert reply.status == 404
    assert reply.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": "No such subscription: 'sub_123'",
        }
    }


def test_wrong_type_and_bad_enum(http, sandbox):
    reply = http.get(sandbox.url + "/v1/customers?limit=abc", headers=AUTH)
    assert reply.status == 400 and reply.json()["error"]["param"] == "limit"
    assert reply.json()["error"]["message"] == "Invalid integer: abc"
    reply = http.get(sandbox.url + "/v1/customers?limit=101", headers=AUTH)
    assert reply.status == 400
    reply = http.get(sandbox.url + "/v1/subscriptions?status=nope", headers=AUTH)
    assert reply.status == 400 and reply.json()["error"]["param"] == "status"


def test_unknown_route(http, sandbox):
    reply = http.get(sandbox.url + "/v1/charges", headers=AUTH)
    assert reply.status == 404
    assert reply.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/charges)")


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer sk_live_123456789"}, {"Authorization": "Bearer pk_test_123456789"}]
)
def test_auth_refused(http, sandbox, headers):
    reply = http.get(sandbox.url + "/v1/customers", headers=headers)
    assert reply.status == 401
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


def test_auth_refused_by_stripe_python(sandbox):
    client = stripe.StripeClient("sk_live_nope", base_addresses={"api": sandbox.api_base}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list()


def test_idempotency_key_replays_first_response(client, sandbox):
    options = {"idempotency_key": "key-1"}
    first = client.v1.customers.create(params={"email": "i@example.com"}, options=options)
    again = client.v1.customers.create(params={"email": "i@example.com"}, options=options)
    assert again.id == first.id
    assert len(client.v1.customers.list().data) == 1
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"


def test_idempotency_key_with_other_params_is_refused(client):
    options = {"idempotency_key": "key-2"}
    client.v1.customers.create(params={"email": "i@example.com"}, options=options)
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "j@example.com"}, options=options)


def test_ending_before_and_bad_cursor(client):
    ids = [client.v1.customers.create(params={"email": f"{i}@example.com"}).id for i in range(4)]
    newer = client.v1.customers.list(params={"ending_before": ids[1], "limit": 10})
    assert [c.id for c in newer.data] == [ids[3], ids[2]]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.list(params={"starting_after": "cus_nope"})
    assert caught.value.param == "starting_after" and caught.value.http_status == 400


def test_concurrent_requests(sandbox):
    import threading

    errors = []

    def work(n: int) -> None:
        try:
            client = sandbox.stripe_client()
            for i in range(5):
                client.v1.customers.create(params={"email": f"{n}-{i}@example.com"})
                client.v1.customers.list(params={"limit": 3})
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert len(sandbox.sandbox.events("customer.created")) == 40
    assert sandbox.sandbox.wait_for_deliveries(10)


@pytest.mark.parametrize(
    "path, noun, object_id",
    [
        ("/v1/customers/{}", "customer", "cus_nope"),
        ("/v1/products/{}", "product", "prod_nope"),
        ("/v1/prices/{}", "price", "price_nope"),
        ("/v1/checkout/sessions/{}", "checkout.session", "cs_test_nope"),
        ("/v1/billing_portal/configurations/{}", "billing_portal.configuration", "bpc_nope"),
        ("/v1/subscriptions/{}", "subscription", "sub_nope"),
        ("/v1/invoices/{}", "invoice", "in_nope"),
        ("/v1/events/{}", "event", "evt_nope"),
        ("/v1/payment_methods/{}", "PaymentMethod", "pm_nope"),
    ],
)
def test_every_retrieve_answers_resource_missing(http, sandbox, path, noun, object_id):
    reply = http.get(sandbox.url + path.format(object_id), headers=AUTH)
    assert reply.status == 404
    assert reply.json()["error"] == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": f"No such {noun}: '{object_id}'",
    }


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/customers/cus_nope"),
        ("DELETE", "/v1/customers/cus_nope"),
        ("POST", "/v1/subscriptions/sub_nope"),
        ("DELETE", "/v1/subscriptions/sub_nope"),
        ("POST", "/v1/billing_portal/configurations/bpc_nope"),
    ],
)
def test_every_change_to_a_missing_object_is_404(http, sandbox, method, path):
    reply = http.request(method, sandbox.url + path, headers=AUTH)
    assert reply.status == 404 and reply.json()["error"]["code"] == "resource_missing"
