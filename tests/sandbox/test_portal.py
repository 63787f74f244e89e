"""Customer Portal: configurations and sessions via the API, the hosted page via forms."""

import re

import pytest
import stripe

from stripe_sandbox.entitlements import SUMMARY_EVENT as ENTITLEMENTS_UPDATED

RETURN = "http://app.test/account"


def portal_session(client, customer_id: str, **extra):
    return client.v1.billing_portal.sessions.create(params={"customer": customer_id, "return_url": RETURN, **extra})


def form_action(page: str, name: str) -> str:
    match = re.search(rf'action="([^"]*/{name}[^"]*)"', page)
    assert match, f"no {name} form on the page"
    return match.group(1).replace("&amp;", "&")


def last_types(sandbox, count: int) -> list[str]:
    return [e["type"] for e in sandbox.sandbox.events()[-count:]]


# -- configurations ---------------------------------------------------------------
def test_default_configuration_exists(client):
    configs = client.v1.billing_portal.configurations.list(params={"is_default": True})
    assert len(configs.data) == 1
    cfg = configs.data[0]
    assert cfg.id == "bpc_sbx_default" and cfg.active and cfg.is_default
    assert cfg.features.subscription_cancel.enabled
    products = {p["product"] for p in cfg.features.subscription_update.products}
    assert products == {"prod_sbx_basic", "prod_sbx_pro"}


def test_configuration_create_update_retrieve(client):
    cfg = client.v1.billing_portal.configurations.create(
        params={
            "business_profile": {"headline": "Acme billing"},
            "default_return_url": RETURN,
            "name": "strict",
            "metadata": {"k": "v"},
            "features": {
                "invoice_history": {"enabled": True},
                "subscription_cancel": {"enabled": True, "mode": "immediately"},
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "proration_behavior": "always_invoice",
                    "products": [{"product": "prod_sbx_pro", "prices": ["price_sbx_pro"]}],
                },
            },
        }
    )
    assert cfg.is_default is False and cfg.business_profile.headline == "Acme billing"
    assert cfg.features.subscription_cancel.mode == "immediately"
    updated = client.v1.billing_portal.configurations.update(
        cfg.id, params={"active": False, "features": {"subscription_cancel": {"enabled": False}}}
    )
    assert updated.active is False and updated.features.subscription_cancel.enabled is False
    same = client.v1.billing_portal.configurations.retrieve(cfg.id)
    assert same.name == "strict" and same.metadata["k"] == "v"
    inactive = client.v1.billing_portal.configurations.list(params={"active": False})
    assert [c.id for c in inactive.data] == [cfg.id]


@pytest.mark.parametrize(
    "params, param",
    [
        ({}, "features"),
        ({"features": {"subscription_cancel": {"mode": "later"}}}, "features[subscription_cancel][mode]"),
        (
            {
                "features": {
                    "subscription_update": {"products": [{"product": "prod_nope", "prices": ["price_sbx_pro"]}]}
                }
            },
            "features[subscription_update][products][0][product]",
        ),
        (
            {
                "features": {
                    "subscription_update": {"products": [{"product": "prod_sbx_basic", "prices": ["price_sbx_pro"]}]}
                }
            },
            "features[subscription_update][products][0][prices][0]",
        ),
    ],
)
def test_configuration_refusals(client, params, param):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing_portal.configurations.create(params=params)
    assert caught.value.http_status == 400 and caught.value.param == param


# -- sessions ------------------------------------------------------------------------
def test_session_shape(client, sandbox, subscribed):
    session = portal_session(client, subscribed["customer"]["id"], locale="fr")
    assert session.id.startswith("bps_") and session.object == "billing_portal.session"
    assert session.url == f"{sandbox.url}/p/session/{session.id}"
    assert session.return_url == RETURN and session.flow is None
    assert session.locale == "fr" and session.livemode is False
    assert session.configuration.startswith("bpc_")


def test_session_with_flow(client, subscribed):
    sub_id = subscribed["subscription"]["id"]
    session = portal_session(
        client,
        subscribed["customer"]["id"],
        flow_data={
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": sub_id},
            "after_completion": {"type": "redirect", "redirect": {"return_url": RETURN + "?done=1"}},
        },
    )
    assert session.flow.type == "subscription_cancel"
    assert session.flow.subscription_cancel.subscription == sub_id
    assert session.flow.after_completion.redirect.return_url == RETURN + "?done=1"


def test_session_refusals(client, sandbox, subscribed):
    cus_id = subscribed["customer"]["id"]
    sub_id = subscribed["subscription"]["id"]
    other = sandbox.sandbox.create_subscription("other@example.com", "pro")
    cases = [
        ({"customer": "cus_nope"}, "customer"),
        ({"configuration": "bpc_nope"}, "configuration"),
        ({"flow_data": {"type": "teleport"}}, "flow_data[type]"),
        ({"flow_data": {"type": "subscription_cancel"}}, "flow_data[subscription_cancel][subscription]"),
        (
            {
                "flow_data": {
                    "type": "subscription_cancel",
                    "subscription_cancel": {"subscription": other["subscription"]["id"]},
                }
            },
            "flow_data[subscription_cancel][subscription]",
        ),
        (
            {"flow_data": {"type": "subscription_update", "subscription_update": {"subscription": "sub_nope"}}},
            "flow_data[subscription_update][subscription]",
        ),
        (
            {"flow_data": {"type": "payment_method_update", "after_completion": {"type": "redirect"}}},
            "flow_data[after_completion][redirect][return_url]",
        ),
    ]
    for extra, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.billing_portal.sessions.create(params={"customer": cus_id, **extra})
        assert caught.value.http_status == 400, extra
        assert caught.value.param == param, extra
    client.v1.subscriptions.cancel(sub_id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        portal_session(
            client, cus_id, flow_data={"type": "subscription_cancel", "subscription_cancel": {"subscription": sub_id}}
        )
    assert "canceled" in caught.value.user_message


# -- the hosted portal -----------------------------------------------------------
def test_portal_page(client, http, subscribed):
    session = portal_session(client, subscribed["customer"]["id"])
    page = http.get(session.url)
    assert page.status == 200
    assert "Test sandbox — not Stripe" in page.text and "Basic" in page.text
    assert "Renews" in page.text and "active" in page.text
    assert f'href="{RETURN}"' in page.text and "Return to app.test" in page.text
    invoice = client.v1.invoices.list().data[0]
    assert invoice.hosted_invoice_url in page.text and invoice.invoice_pdf in page.text
    assert "ending in 4242" in page.text


def test_update_card(client, sandbox, http, subscribed):
    session = portal_session(client, subscribed["customer"]["id"])
    page = http.get(session.url).text
    reply = http.post(form_action(page, "card"), form={"card": "5555 5555 5555 4242"})
    assert reply.status == 303
    cus = client.v1.customers.retrieve(
        subscribed["customer"]["id"], params={"expand": ["invoice_settings.default_payment_method"]}
    )
    pm = cus.invoice_settings.default_payment_method
    assert pm.card.last4 == "4242" and pm.id != subscribed["subscription"]["default_payment_method"]
    declined = http.post(form_action(page, "card"), form={"card": "4000000000000002"})
    assert declined.status == 402 and "Your card was declined" in declined.text


def test_update_card_pays_what_is_owed(client, sandbox, http, subscribed):
    sub_id = subscribed["subscription"]["id"]
    sandbox.sandbox.fail_payment(sub_id)
    session = portal_session(client, subscribed["customer"]["id"])
    http.post(form_action(http.get(session.url).text, "card"), form={"card": "4242424242424242"})
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "active"
    assert client.v1.invoices.retrieve(sub.latest_invoice).status == "paid"


def test_switch_plan(client, sandbox, http, subscribed):
    session = portal_session(client, subscribed["customer"]["id"])
    page = http.get(session.url).text
    assert 'value="price_sbx_pro"' in page
    reply = http.post(
        form_action(page, "switch"), form={"subscription": subscribed["subscription"]["id"], "price": "price_sbx_pro"}
    )
    assert reply.status == 303
    assert "Your plan was updated" in http.get(sandbox.url + reply.headers["Location"]).text
    sub = client.v1.subscriptions.retrieve(subscribed["subscription"]["id"])
    assert sub["items"].data[0].price.id == "price_sbx_pro"
    event = sandbox.sandbox.events("customer.subscription.updated")[-1]
    assert event["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"] == "price_sbx_basic"


def test_switch_plan_offers_only_configured_prices(client, sandbox, http, subscribed):
    cfg = client.v1.billing_portal.configurations.create(
        params={
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "proration_behavior": "always_invoice",
                    "products": [{"product": "prod_sbx_pro", "prices": ["price_sbx_pro"]}],
                }
            }
        }
    )
    session = portal_session(client, subscribed["customer"]["id"], configuration=cfg.id)
    page = http.get(session.url).text
    assert 'value="price_sbx_basic"' not in page and "Cancel plan" not in page
    refused = http.post(
        form_action(page, "switch"), form={"subscription": subscribed["subscription"]["id"], "price": "price_sbx_basic"}
    )
    assert refused.status == 400
    http.post(
        form_action(page, "switch"), form={"subscription": subscribed["subscription"]["id"], "price": "price_sbx_pro"}
    )
    assert last_types(sandbox, 6) == [
        "customer.subscription.updated",
        ENTITLEMENTS_UPDATED,  # Pro carries more features than Basic
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]


def test_cancel_at_period_end_then_reactivate(client, sandbox, http, subscribed):
    sub_id = subscribed["subscription"]["id"]
    session = portal_session(client, subscribed["customer"]["id"])
    page = http.get(session.url).text
    reply = http.post(form_action(page, "cancel"), form={"subscription": sub_id, "feedback": "too_expensive"})
    assert reply.status == 303
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.cancel_at_period_end and sub.cancel_at == sub["items"].data[0].current_period_end
    assert sub.cancellation_details.feedback == "too_expensive"
    assert sub.status == "active"
    page = http.get(sandbox.url + reply.headers["Location"]).text
    assert "Cancels" in page and "Renew plan" in page
    http.post(form_action(page, "reactivate"), form={"subscription": sub_id})
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.cancel_at_period_end is False and sub.cancel_at is None
    assert last_types(sandbox, 2) == ["customer.subscription.updated"] * 2


def test_cancel_immediately(client, sandbox, http, subscribed):
    cfg = client.v1.billing_portal.configurations.create(
        params={"features": {"subscription_cancel": {"enabled": True, "mode": "immediately"}}}
    )
    session = portal_session(client, subscribed["customer"]["id"], configuration=cfg.id)
    page = http.get(session.url).text
    assert "Cancel now" in page
    http.post(form_action(page, "cancel"), form={"subscription": subscribed["subscription"]["id"]})
    sub = client.v1.subscriptions.retrieve(subscribed["subscription"]["id"])
    assert sub.status == "canceled" and sub.ended_at and sub.canceled_at
    assert last_types(sandbox, 2) == ["customer.subscription.deleted", ENTITLEMENTS_UPDATED]


def test_another_customers_subscription_is_refused(client, sandbox, http, subscribed):
    other = sandbox.sandbox.create_subscription("other@example.com", "pro")
    session = portal_session(client, subscribed["customer"]["id"])
    page = http.get(session.url).text
    reply = http.post(form_action(page, "cancel"), form={"subscription": other["subscription"]["id"]})
    assert reply.status == 400
    assert client.v1.subscriptions.retrieve(other["subscription"]["id"]).cancel_at is None


# -- deep links ------------------------------------------------------------------------
def test_deep_link_cancel_redirects(client, sandbox, http, subscribed):
    sub_id = subscribed["subscription"]["id"]
    session = portal_session(
        client,
        subscribed["customer"]["id"],
        flow_data={
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": sub_id},
            "after_completion": {"type": "redirect", "redirect": {"return_url": RETURN + "?c=1"}},
        },
    )
    page = http.get(session.url).text
    assert "Cancel plan" in page and "Update card" not in page and "Invoice history" not in page
    reply = http.post(form_action(page, "cancel"), form={"subscription": sub_id})
    assert reply.status == 303 and reply.headers["Location"] == RETURN + "?c=1"
    assert client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True


def test_deep_link_payment_method_confirmation(client, http, subscribed):
    session = portal_session(
        client,
        subscribed["customer"]["id"],
        flow_data={
            "type": "payment_method_update",
            "after_completion": {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "Card saved!"},
            },
        },
    )
    page = http.get(session.url).text
    assert "Update card" in page and "Change plan" not in page
    reply = http.post(form_action(page, "card"), form={"card": "4242424242424242"})
    assert reply.status == 200 and "Card saved!" in reply.text and f'href="{RETURN}"' in reply.text


def test_deep_link_update_then_homepage(client, http, subscribed):
    sub_id = subscribed["subscription"]["id"]
    session = portal_session(
        client,
        subscribed["customer"]["id"],
        flow_data={"type": "subscription_update", "subscription_update": {"subscription": sub_id}},
    )
    page = http.get(session.url).text
    assert "Change plan" in page and "Cancel plan" not in page
    reply = http.post(form_action(page, "switch"), form={"subscription": sub_id, "price": "price_sbx_pro"})
    assert reply.status == 303 and "home=1" in reply.headers["Location"]
    home = http.get(reply.headers["Location"]).text
    assert "Invoice history" in home and "Cancel plan" in home


def test_deep_link_update_confirm(client, http, subscribed):
    sub = subscribed["subscription"]
    session = portal_session(
        client,
        subscribed["customer"]["id"],
        flow_data={
            "type": "subscription_update_confirm",
            "subscription_update_confirm": {
                "subscription": sub["id"],
                "items": [{"id": sub["items"]["data"][0]["id"], "price": "price_sbx_pro"}],
            },
            "after_completion": {"type": "redirect", "redirect": {"return_url": RETURN}},
        },
    )
    page = http.get(session.url).text
    assert "Confirm your new plan" in page and "Pro" in page
    reply = http.post(form_action(page, "switch"), form={"subscription": sub["id"], "price": "price_sbx_pro"})
    assert reply.status == 303 and reply.headers["Location"] == RETURN
    assert client.v1.subscriptions.retrieve(sub["id"])["items"].data[0].price.id == "price_sbx_pro"


def test_configuration_events(client, sandbox):
    cfg = client.v1.billing_portal.configurations.create(params={"features": {"invoice_history": {"enabled": True}}})
    client.v1.billing_portal.configurations.update(cfg.id, params={"name": "renamed"})
    created, updated = sandbox.sandbox.events()[-2:]
    assert created["type"] == "billing_portal.configuration.created"
    assert updated["type"] == "billing_portal.configuration.updated"
    assert updated["data"]["previous_attributes"]["name"] is None


def test_update_billing_details(client, sandbox, http, subscribed):
    session = portal_session(client, subscribed["customer"]["id"])
    page = http.get(session.url).text
    reply = http.post(form_action(page, "details"), form={"email": "new@example.com", "name": "Ada L"})
    assert reply.status == 303
    cus = client.v1.customers.retrieve(subscribed["customer"]["id"])
    assert cus.email == "new@example.com" and cus.name == "Ada L"
    event = sandbox.sandbox.events("customer.updated")[-1]
    assert event["data"]["previous_attributes"]["email"] == "ada@example.com"
    assert http.post(form_action(page, "details"), form={"email": "nope"}).status == 400


def test_billing_details_hidden_when_disabled(client, http, subscribed):
    cfg = client.v1.billing_portal.configurations.create(params={"features": {"invoice_history": {"enabled": True}}})
    session = portal_session(client, subscribed["customer"]["id"], configuration=cfg.id)
    assert "Billing details" not in http.get(session.url).text
