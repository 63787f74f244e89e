"""Plan names and prices read from the sandbox's catalogue, cached briefly."""

from __future__ import annotations

import stripe

from portal_service.presentation import price_words
from shared.billing.plans import PlanCatalog


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def rename(sb, product_id: str, name: str) -> None:
    with sb.sandbox.lock:
        sb.sandbox.store.collections["products"][product_id]["name"] = name


def catalog(sb, keys, clock=None) -> PlanCatalog:
    client = stripe.StripeClient("sk_test_plans", base_addresses={"api": sb.api_base}, max_network_retries=0)
    return PlanCatalog(client, keys, ttl=300, clock=clock or Clock())


def test_lookup_keys_and_price_ids_resolve_in_configured_order(sb):
    sb.sandbox.reset()
    plans = catalog(sb, ("pro", "price_sbx_basic", "missing_key")).plans()
    assert [(p.key, p.price_id, p.name, price_words(p)) for p in plans] == [
        ("pro", "price_sbx_pro", "Pro", "$29.00 per month"),
        ("price_sbx_basic", "price_sbx_basic", "Basic", "$9.00 per month"),
    ]


def test_names_are_cached_until_the_ttl_passes(sb):
    sb.sandbox.reset()
    clock = Clock()
    plans = catalog(sb, ("basic",), clock)
    assert plans.plans()[0].name == "Basic"
    rename(sb, "prod_sbx_basic", "Starter")
    assert plans.plans()[0].name == "Basic"  # cached: no Stripe call per page view
    clock.now += 301
    assert plans.plans()[0].name == "Starter"
    rename(sb, "prod_sbx_basic", "Basic")


def test_find_accepts_only_configured_plans(sb):
    sb.sandbox.reset()
    plans = catalog(sb, ("basic",))
    assert plans.find("basic").price_id == "price_sbx_basic"
    assert plans.find("price_sbx_basic").key == "basic"  # the same plan by its price id
    assert plans.find("pro") is None and plans.find("price_sbx_pro") is None


def test_a_retired_price_is_still_named(sb):
    sb.sandbox.reset()
    plans = catalog(sb, ("basic",))
    assert plans.for_price("price_sbx_pro").name == "Pro"
    assert plans.for_price(None) is None


def test_plans_carry_their_products_feature_names_cached_like_the_names(sb):
    sb.sandbox.reset()
    clock = Clock()
    plans = catalog(sb, ("basic",), clock)
    assert plans.plans()[0].features == ("Up to 5 projects", "Export to CSV", "Email support")
    client = stripe.StripeClient("sk_test_plans", base_addresses={"api": sb.api_base}, max_network_retries=0)
    client.v1.products.features.create("prod_sbx_basic", params={"entitlement_feature": "feat_sbx_sso"})
    assert "Single sign-on" not in plans.plans()[0].features  # cached: no Stripe call per page view
    clock.now += 301
    assert plans.plans()[0].features[-1] == "Single sign-on"
    assert len(plans.for_price("price_sbx_pro").features) == 12
    sb.sandbox.reset()
