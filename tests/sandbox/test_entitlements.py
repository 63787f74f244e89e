"""Features, product features and active entitlements, through stripe-python's StripeClient."""

import pytest
import stripe

from stripe_sandbox.entitlements import SUMMARY_EVENT

PRO_FEATURES = 12  # docs/catalog.example.toml: more than one summary page


def summaries(sandbox) -> list[dict]:
    return [event["data"]["object"] for event in sandbox.sandbox.events(SUMMARY_EVENT)]


def all_entitlements(client, customer: str, limit: int) -> list[str]:
    page = client.v1.entitlements.active_entitlements.list(params={"customer": customer, "limit": limit})
    return [entitlement.lookup_key for entitlement in page.auto_paging_iter()]


def test_features_create_list_update(client):
    feature = client.v1.entitlements.features.create(params={"lookup_key": "beta", "name": "Beta"})
    assert feature.object == "entitlements.feature" and feature.id.startswith("feat_") and feature.active
    found = client.v1.entitlements.features.list(params={"lookup_key": "beta"}).data
    assert [f.id for f in found] == [feature.id]
    archived = client.v1.entitlements.features.update(feature.id, params={"active": False, "name": "Beta 2"})
    assert (archived.active, archived.name) == (False, "Beta 2")
    assert [f.id for f in client.v1.entitlements.features.list(params={"archived": True}).data] == [feature.id]
    assert client.v1.entitlements.features.retrieve(feature.id).name == "Beta 2"


@pytest.mark.parametrize(
    "params, param",
    [
        ({"lookup_key": "sso", "name": "Again"}, "lookup_key"),  # seeded already
        ({"lookup_key": "x" * 81, "name": "Long"}, "lookup_key"),
        ({"lookup_key": "ok"}, "name"),
        ({"name": "No key"}, "lookup_key"),
    ],
)
def test_feature_refusals(client, params, param):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.entitlements.features.create(params=params)
    assert caught.value.param == param


def test_product_features_page_and_detach(client):
    listed = client.v1.products.features.list("prod_sbx_pro", params={"limit": 5})
    assert len(listed.data) == 5 and listed.has_more
    every = list(client.v1.products.features.list("prod_sbx_pro", params={"limit": 5}).auto_paging_iter())
    assert len(every) == PRO_FEATURES
    assert every[0].entitlement_feature.object == "entitlements.feature"
    gone = client.v1.products.features.delete("prod_sbx_pro", every[0].id)
    assert gone.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.products.features.retrieve("prod_sbx_basic", every[1].id)  # another product's
    assert caught.value.http_status == 404


def test_attaching_twice_or_an_unknown_feature_is_refused(client):
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.products.features.create("prod_sbx_pro", params={"entitlement_feature": "feat_sbx_sso"})
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.products.features.create("prod_sbx_pro", params={"entitlement_feature": "feat_nope"})
    assert twice.value.param == unknown.value.param == "entitlement_feature"
    assert unknown.value.code == "resource_missing"


def test_subscription_grants_its_products_features_in_pages(client, sandbox):
    made = sandbox.sandbox.create_subscription("ent@example.com", "pro")
    customer = made["customer"]["id"]
    (summary,) = summaries(sandbox)
    assert summary["object"] == "entitlements.active_entitlement_summary" and summary["customer"] == customer
    assert len(summary["entitlements"]["data"]) == 10 and summary["entitlements"]["has_more"] is True
    keys = all_entitlements(client, customer, limit=3)
    assert len(keys) == len(set(keys)) == PRO_FEATURES
    assert [e["lookup_key"] for e in summary["entitlements"]["data"]] == keys[:10]
    first = client.v1.entitlements.active_entitlements.list(params={"customer": customer, "limit": 1}).data[0]
    assert first.object == "entitlements.active_entitlement" and first.id.startswith("ent_")
    expanded = client.v1.entitlements.active_entitlements.list(
        params={"customer": customer, "limit": 1, "expand": ["data.feature"]}
    )
    assert expanded.data[0].feature.lookup_key == first.lookup_key


def test_switch_attach_and_cancel_each_send_a_summary(client, sandbox):
    made = sandbox.sandbox.create_subscription("sw@example.com", "basic")
    customer, sub = made["customer"]["id"], made["subscription"]
    assert sorted(all_entitlements(client, customer, 100)) == ["email_support", "export_csv", "projects_5"]
    feature = client.v1.entitlements.features.create(params={"lookup_key": "new_thing", "name": "New"})
    client.v1.products.features.create("prod_sbx_basic", params={"entitlement_feature": feature.id})
    assert "new_thing" in [e["lookup_key"] for e in summaries(sandbox)[-1]["entitlements"]["data"]]
    client.v1.subscriptions.update(
        sub["id"], params={"items": [{"id": sub["items"]["data"][0]["id"], "price": "price_sbx_pro"}]}
    )
    assert len(all_entitlements(client, customer, 100)) == PRO_FEATURES
    client.v1.subscriptions.cancel(sub["id"])
    last = summaries(sandbox)[-1]
    assert last["entitlements"] == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": "/v1/entitlements/active_entitlements",
    }
    assert all_entitlements(client, customer, 100) == []
    assert len(summaries(sandbox)) == 4  # granted, attached, switched, ended: no summary without a change


def test_active_entitlements_need_a_known_customer(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.entitlements.active_entitlements.list(params={"customer": "cus_nope"})
    assert caught.value.param == "customer"


def test_products_and_prices_are_created_and_updated(client, sandbox):
    product = client.v1.products.create(params={"name": "Team", "metadata": {"lookup_key": "team"}})
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 4900,
            "currency": "usd",
            "recurring": {"interval": "year"},
            "lookup_key": "team",
        }
    )
    assert price.recurring.interval == "year" and client.v1.products.retrieve(product.id).default_price == price.id
    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.v1.prices.create(
            params={
                "product": product.id,
                "unit_amount": 1,
                "currency": "usd",
                "recurring": {"interval": "month"},
                "lookup_key": "team",
            }
        )
    assert taken.value.param == "lookup_key"
    moved = client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 5900,
            "currency": "usd",
            "recurring": {"interval": "year"},
            "lookup_key": "team",
            "transfer_lookup_key": True,
        }
    )
    assert client.v1.prices.retrieve(price.id).lookup_key is None
    assert [p.id for p in client.v1.prices.list(params={"lookup_keys": ["team"]}).data] == [moved.id]
    renamed = client.v1.products.update(product.id, params={"name": "Teams", "active": False})
    assert (renamed.name, renamed.active) == ("Teams", False)
    assert [e["type"] for e in sandbox.sandbox.events()][-2:] == ["price.created", "product.updated"]
