"""/dashboard/billing, POST /api/billing/portal and /api/billing/checkout against the sandbox.

The sandbox here has no webhook endpoint: whatever the page shows after a
return from Stripe came through the return sync, not a webhook.
"""

from __future__ import annotations

import logging
import time

import pytest
import stripe

from portal_service import create_app
from shared.infra.models import Subscription, User
from shared.sync import return_sync
from shared.sync.apply import EventApplier
from shared.sync.handlers import HANDLED_TYPES
from tests.billing_helpers import (
    HTML,
    local_path,
    pay_on_hosted_page,
    post_form,
    post_json,
    signed_in,
    text_of,
)
from tests.services import wait_for
from tests.settings_helpers import make_settings
from tests.test_tie_fetch import envelopes
from tests.worker_helpers import stripe_client_for

BASE = "http://localhost"
PAGE = BASE + "/dashboard/billing"


@pytest.fixture
def settings(db_url, redis_url, sb):
    sb.sandbox.reset()
    return make_settings(db_url, redis_url, stripe_api_base=sb.api_base, app_base_url=BASE)


def collection(sb, name: str) -> dict:
    with sb.sandbox.lock:
        return dict(sb.sandbox.store.collections[name])


def subscribe(app, sb, email: str, plan: str = "basic"):
    """A signed-in client whose user paid a checkout and came back to the billing page."""
    client = signed_in(app, email)
    url = post_json(client, "/api/billing/checkout", {"price": plan}).get_json()["url"]
    back = pay_on_hosted_page(url)
    page = client.get(local_path(back), headers=HTML)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client, User.get(User.email == email)


# -- the page ----------------------------------------------------------------------
def test_the_billing_page_needs_a_signed_in_user(client):
    response = client.get("/dashboard/billing", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/dashboard/billing"


def test_a_new_user_sees_each_configured_plan_with_its_name_and_price(app):
    client = signed_in(app, "new@example.com")
    page = client.get("/dashboard/billing", headers=HTML)
    words = text_of(page)
    assert page.status_code == 200
    assert "You have no subscription yet." in words and "No access" in words
    assert "Basic $9.00 per month" in words and "Pro $29.00 per month" in words
    assert "Subscribe to Basic" in words and "Subscribe to Pro" in words
    assert "Up to 5 projects" in words and "Single sign-on" in words  # each plan's features, from Stripe
    assert "Manage Billing" not in words  # no Stripe customer yet


def test_checkout_return_shows_the_new_subscription_before_any_webhook(app, sb):
    client, user = subscribe(app, sb, "payer@example.com")
    assert user.stripe_customer_id  # linked by the return, as checkout.session.completed would
    sub = Subscription.get(Subscription.customer_id == user.stripe_customer_id)
    assert sub.status == "active" and sub.price_id == "price_sbx_basic"
    from shared.billing.entitlements import entitlements_by_customer

    entitled = entitlements_by_customer([user.stripe_customer_id])[user.stripe_customer_id]
    assert entitled == ["email_support", "export_csv", "projects_5"]  # read from Stripe by the return, too
    words = text_of(client.get("/dashboard/billing", headers=HTML))
    assert "Basic — $9.00 per month" in words
    assert "Includes Up to 5 projects Export to CSV Email support" in words  # the plan card's features
    assert "Active" in words and "Renews on" in words and "Access granted" in words
    for button in ("Manage Billing", "Update card", "Change plan", "Cancel subscription"):
        assert button in words
    assert "Subscribe to" not in words


@pytest.mark.parametrize("plan", ["basic", "pro"])  # pro: more entitlements than one summary holds
def test_the_checkouts_webhooks_after_the_return_never_show_an_older_state(app, sb, settings, plan):
    """The webhooks of the payment arrive after the return, one batch each, as on a busy worker.

    The checkout's ``customer.subscription.created`` says incomplete and shares its second
    with what the return read: it must not be applied over that read (it was, and the
    page then said "Awaiting first payment" with no access until the next event).
    """
    client, user = subscribe(app, sb, "patient@example.com", plan)
    applier = EventApplier(stripe_client_for(settings))
    events = [e for e in sb.sandbox.events() if e["type"] in HANDLED_TYPES]
    assert "customer.subscription.created" in [e["type"] for e in events]
    for event in events:
        [result] = applier.apply_batch(envelopes([event]))
        assert result.outcome == "applied", (event["type"], result)
        words = text_of(client.get("/dashboard/billing", headers=HTML))  # a plain visit: the database only
        assert "Active" in words and "Access granted" in words, (event["type"], words)
        assert client.get("/api/billing/status").get_json()["has_access"] is True, event["type"]
    assert Subscription.get(Subscription.customer_id == user.stripe_customer_id).status == "active"


def test_portal_return_brings_a_cancellation_in_before_any_webhook(app, sb):
    client, user = subscribe(app, sb, "leaver@example.com")
    sub_id = Subscription.get(Subscription.customer_id == user.stripe_customer_id).id
    stripe.StripeClient("sk_test_x", base_addresses={"api": sb.api_base}).v1.subscriptions.update(
        sub_id, params={"cancel_at_period_end": True}
    )
    words = text_of(client.get("/dashboard/billing", headers=HTML))
    assert "Cancels on" not in words  # a plain visit reads the database only
    words = text_of(client.get("/dashboard/billing?from=portal", headers=HTML))
    assert "Active, cancellation scheduled" in words and "Cancels on" in words
    assert "Access granted" in words
    assert "Cancel subscription" not in words  # already scheduled


def test_a_fetch_too_close_to_the_last_event_keeps_the_row_and_refreshes_the_page(app, sb, redis_conn):
    client, user = subscribe(app, sb, "racer@example.com")
    sub = Subscription.get(Subscription.customer_id == user.stripe_customer_id)
    # As if the worker had just applied an event of this very second, saying something else.
    Subscription.update(version_created=int(time.time()), fetched_at=None, status="incomplete").where(
        Subscription.id == sub.id
    ).execute()
    page = client.get("/dashboard/billing?from=portal", headers=HTML)
    html = page.get_data(as_text=True)
    assert 'http-equiv="refresh"' in html and "from=portal" in html and "try=1" in html
    assert "Bringing your billing up to date" in html
    assert Subscription.get_by_id(sub.id).status == "incomplete"  # kept: which is newer is not known yet
    throttle = return_sync.THROTTLE_KEY.format(user_id=user.id)
    redis_conn.pexpire(throttle, 1)  # the return sync throttle's seconds, passed in a millisecond
    wait_for(lambda: not redis_conn.exists(throttle), what="the return sync throttle to expire")
    last = client.get("/dashboard/billing?from=portal&try=3", headers=HTML).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in last  # it gives up after a few tries


def test_a_kept_fetch_that_agrees_with_the_row_needs_no_refresh(app, sb):
    client, user = subscribe(app, sb, "calm@example.com")
    Subscription.update(version_created=int(time.time()), fetched_at=None).where(
        Subscription.customer_id == user.stripe_customer_id
    ).execute()
    html = client.get("/dashboard/billing?from=portal", headers=HTML).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html and "Renews on" in html


def test_returns_a_moment_apart_sync_once_and_the_second_page_refreshes(app, sb):
    client, _user = subscribe(app, sb, "hasty@example.com")
    first = client.get("/dashboard/billing?from=portal", headers=HTML).get_data(as_text=True)
    second = client.get("/dashboard/billing?from=portal", headers=HTML).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in first
    assert 'http-equiv="refresh"' in second  # throttled: read again in a few seconds


# -- checkout ------------------------------------------------------------------------
def test_checkout_for_a_json_caller_answers_the_hosted_url(app, sb):
    client = signed_in(app, "json@example.com")
    user = User.get(User.email == "json@example.com")
    response = post_json(client, "/api/billing/checkout", {"price": "pro"})
    assert response.status_code == 200
    url = response.get_json()["url"]
    assert url.startswith(sb.api_base + "/c/pay/cs_")
    (session,) = collection(sb, "checkout_sessions").values()
    assert session["mode"] == "subscription"
    assert session["client_reference_id"] == str(user.id)
    assert session["customer_email"] == "json@example.com" and session["customer"] is None
    assert session["success_url"] == PAGE + "?session_id={CHECKOUT_SESSION_ID}"
    assert session["cancel_url"] == PAGE
    assert session["line_items_params"][0]["price"] == "price_sbx_pro"


def test_checkout_from_a_form_is_a_303_to_the_hosted_page(app, sb):
    client = signed_in(app, "form@example.com")
    response = post_form(client, "/api/billing/checkout", {"price": "price_sbx_basic"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(sb.api_base + "/c/pay/cs_")


@pytest.mark.parametrize("price", ["enterprise", "price_sbx_unknown", "", "basic,pro"])
def test_checkout_refuses_a_price_that_is_not_configured(app, sb, price):
    client = signed_in(app, "greedy@example.com")
    response = post_json(client, "/api/billing/checkout", {"price": price})
    assert response.status_code == 400
    assert "Unknown plan" in response.get_json()["error"]
    assert collection(sb, "checkout_sessions") == {}


def test_a_subscribed_user_is_sent_to_the_portal_not_a_second_checkout(app, sb):
    client, _user = subscribe(app, sb, "twice@example.com")
    before = len(collection(sb, "checkout_sessions"))
    response = post_json(client, "/api/billing/checkout", {"price": "pro"})
    assert response.status_code == 200
    assert "/p/session/bps_" in response.get_json()["url"]
    assert len(collection(sb, "checkout_sessions")) == before


def test_a_returning_customer_checks_out_with_their_customer(app, sb):
    client, user = subscribe(app, sb, "again@example.com")
    sub_id = Subscription.get(Subscription.customer_id == user.stripe_customer_id).id
    stripe.StripeClient("sk_test_x", base_addresses={"api": sb.api_base}).v1.subscriptions.cancel(sub_id)
    client.get("/dashboard/billing?from=portal", headers=HTML)
    assert "Subscribe to Pro" in text_of(client.get("/dashboard/billing", headers=HTML))
    url = post_json(client, "/api/billing/checkout", {"price": "pro"}).get_json()["url"]
    newest = next(s for s in collection(sb, "checkout_sessions").values() if s["url"] == url)
    assert newest["customer"] == user.stripe_customer_id  # not a second customer for the same person


# -- the portal -----------------------------------------------------------------------
def test_portal_without_a_customer_is_refused(app, sb):
    client = signed_in(app, "nobody@example.com")
    response = post_json(client, "/api/billing/portal")
    assert response.status_code == 400
    assert response.get_json() == {"error": "No active subscription"}
    assert collection(sb, "portal_sessions") == {}
    form = post_form(client, "/api/billing/portal")
    assert form.status_code == 400 and "No active subscription" in text_of(form)  # a page for browsers
    assert form.mimetype == "text/html"


def test_portal_opens_for_the_users_own_customer_and_returns_to_the_billing_page(app, sb):
    client, user = subscribe(app, sb, "manager@example.com")
    response = post_json(client, "/api/billing/portal", {"return_url": "https://evil.example/"})
    assert response.status_code == 200
    (session,) = collection(sb, "portal_sessions").values()
    assert response.get_json() == {"url": session["url"]}
    assert session["customer"] == user.stripe_customer_id
    assert session["return_url"] == PAGE + "?from=portal"  # never from the request
    assert session["flow"] is None
    form = post_form(client, "/api/billing/portal")
    assert form.status_code == 303 and "/p/session/bps_" in form.headers["Location"]


@pytest.mark.parametrize("flow", ["payment_method_update", "subscription_update", "subscription_cancel"])
def test_deep_links_act_on_the_users_own_subscription(app, sb, flow):
    client, user = subscribe(app, sb, f"{flow.replace('_', '-')}@example.com")
    _, other = subscribe(app, sb, f"other-{flow.replace('_', '-')}@example.com")
    own_sub = Subscription.get(Subscription.customer_id == user.stripe_customer_id).id
    other_sub = Subscription.get(Subscription.customer_id == other.stripe_customer_id).id
    response = post_form(client, "/api/billing/portal", {"flow": flow, "subscription": other_sub})
    assert response.status_code == 303
    session = next(s for s in collection(sb, "portal_sessions").values() if s["url"] == response.headers["Location"])
    assert session["customer"] == user.stripe_customer_id
    assert session["flow"]["type"] == flow
    assert session["flow"]["after_completion"] == {
        "type": "redirect",
        "redirect": {"return_url": PAGE + "?from=portal"},
        "hosted_confirmation": None,
    }
    if flow != "payment_method_update":
        assert session["flow"][flow]["subscription"] == own_sub


def test_an_unknown_flow_is_refused_and_opens_nothing(app, sb):
    client, _ = subscribe(app, sb, "flow@example.com")
    response = post_json(client, "/api/billing/portal", {"flow": "subscription_update_confirm"})
    assert response.status_code == 400
    assert "Unknown portal flow" in response.get_json()["error"]
    assert collection(sb, "portal_sessions") == {}


def test_cancelling_twice_is_refused_with_a_clear_message(app, sb):
    client, user = subscribe(app, sb, "twice-cancel@example.com")
    sub_id = Subscription.get(Subscription.customer_id == user.stripe_customer_id).id
    stripe.StripeClient("sk_test_x", base_addresses={"api": sb.api_base}).v1.subscriptions.update(
        sub_id, params={"cancel_at_period_end": True}
    )
    client.get("/dashboard/billing?from=portal", headers=HTML)
    response = post_json(client, "/api/billing/portal", {"flow": "subscription_cancel"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "Your subscription is already set to cancel"}
    assert collection(sb, "portal_sessions") == {}


def test_portal_settings_come_from_configuration(db_url, redis_url, db, redis_conn, sb):
    sb.sandbox.reset()
    client_ = stripe.StripeClient("sk_test_x", base_addresses={"api": sb.api_base})
    config = client_.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}
    )
    settings = make_settings(
        db_url,
        redis_url,
        stripe_api_base=sb.api_base,
        app_base_url=BASE,
        portal_configuration_id=config.id,
        portal_locale="fr",
    )
    app = create_app(settings)
    client, _user = subscribe(app, sb, "configured@example.com")
    post_json(client, "/api/billing/portal")
    (session,) = collection(sb, "portal_sessions").values()
    assert session["configuration"] == config.id and session["locale"] == "fr"


def app_with_stripe_down(db_url, redis_url):
    settings = make_settings(db_url, redis_url, app_base_url=BASE)  # Stripe at a closed port
    return create_app(settings, stripe_client=stripe_client_for(settings))


def test_a_stripe_failure_is_a_502_with_a_short_message_and_a_log_line(db_url, redis_url, db, redis_conn, caplog):
    app = app_with_stripe_down(db_url, redis_url)
    client = signed_in(app, "outage@example.com")
    User.update(stripe_customer_id="cus_OUTAGE").where(User.email == "outage@example.com").execute()
    billing_log = logging.getLogger("portal.billing")
    billing_log.addHandler(caplog.handler)  # create_app's logging setup replaced the root's handlers
    try:
        response = post_json(client, "/api/billing/portal")
    finally:
        billing_log.removeHandler(caplog.handler)
    assert response.status_code == 502
    assert response.get_json() == {"error": "Stripe could not open the portal just now. Please try again."}
    assert "sk_test" not in response.get_data(as_text=True)
    assert any("stripe refused to open portal" in record.getMessage() for record in caplog.records)


# -- who may do what -----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/billing/portal", "/api/billing/checkout"])
def test_api_callers_without_a_session_get_a_json_401(client, path):
    response = client.post(path, json={}, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "Login required"}


@pytest.mark.parametrize("path", ["/api/billing/portal", "/api/billing/checkout"])
def test_browsers_without_a_session_are_sent_to_sign_in(client, path):
    response = client.post(path, data={"price": "basic"}, headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/api/billing/portal", "/api/billing/checkout"])
def test_posts_without_a_csrf_token_are_refused(app, sb, path):
    client, _ = subscribe(app, sb, "csrf@example.com")
    before = (len(collection(sb, "portal_sessions")), len(collection(sb, "checkout_sessions")))
    json_response = post_json(client, path, {"price": "pro"}, token="")
    assert json_response.status_code == 400
    assert "CSRF" in json_response.get_json()["error"]
    form_response = post_form(client, path, {"price": "pro"}, token="")
    assert form_response.status_code == 400 and "CSRF" in text_of(form_response)
    assert (len(collection(sb, "portal_sessions")), len(collection(sb, "checkout_sessions"))) == before


@pytest.mark.parametrize("path", ["/api/billing/portal", "/api/billing/checkout"])
def test_cross_site_posts_are_refused_even_with_a_token(app, sb, path):
    client, _ = subscribe(app, sb, "cross@example.com")
    before = (len(collection(sb, "portal_sessions")), len(collection(sb, "checkout_sessions")))
    response = post_json(client, path, {"price": "pro"}, **{"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert response.get_json() == {"error": "Cross-site request refused"}
    same_origin = post_json(client, path, {"price": "pro"}, **{"Sec-Fetch-Site": "same-origin"})
    assert same_origin.status_code == 200
    assert (len(collection(sb, "portal_sessions")), len(collection(sb, "checkout_sessions"))) != before


def test_a_user_cannot_sync_another_users_checkout_session(app, sb):
    victim = signed_in(app, "victim@example.com")
    url = post_json(victim, "/api/billing/checkout", {"price": "basic"}).get_json()["url"]
    back = pay_on_hosted_page(url)  # the victim paid, but has not come back yet
    session_id = back.split("session_id=")[1]
    thief = signed_in(app, "thief@example.com")
    response = thief.get(f"/dashboard/billing?session_id={session_id}", headers=HTML)
    assert response.status_code == 403
    assert "does not belong to your account" in text_of(response)
    assert User.get(User.email == "thief@example.com").stripe_customer_id is None
    assert User.get(User.email == "victim@example.com").stripe_customer_id is None
    assert Subscription.select().count() == 0
    assert victim.get(local_path(back), headers=HTML).status_code == 200  # its owner still can
    assert User.get(User.email == "victim@example.com").stripe_customer_id is not None


def test_a_checkout_whose_customer_belongs_to_another_user_is_a_409_that_changes_nothing(app, sb, caplog):
    payer = signed_in(app, "payer@example.com")
    back = pay_on_hosted_page(post_json(payer, "/api/billing/checkout", {"price": "basic"}).get_json()["url"])
    [session] = collection(sb, "checkout_sessions").values()
    signed_in(app, "other@example.com")
    other = User.get(User.email == "other@example.com")
    User.update(stripe_customer_id=session["customer"]).where(User.id == other.id).execute()
    with caplog.at_level(logging.ERROR, logger="portal.dashboard"):
        response = payer.get(local_path(back), headers=HTML)
    assert response.status_code == 409
    assert "already linked to another account" in text_of(response)
    assert session["customer"] not in text_of(response)  # the other account's ids stay out of the page
    assert User.get(User.email == "payer@example.com").stripe_customer_id is None
    assert User.get_by_id(other.id).stripe_customer_id == session["customer"]
    assert Subscription.select().count() == 0
    assert f"customer {session['customer']} is already linked to user {other.id}" in caplog.text


@pytest.mark.parametrize("session_id", ["cs_doesnotexist", "../v1/customers", "cs_%2F..%2Fx"])
def test_an_unknown_checkout_session_is_a_404_that_changes_nothing(app, session_id):
    client = signed_in(app, "guess@example.com")
    response = client.get(f"/dashboard/billing?session_id={session_id}", headers=HTML)
    assert response.status_code == 404
    assert "No such checkout session" in text_of(response)
    assert User.get(User.email == "guess@example.com").stripe_customer_id is None


def test_a_user_cannot_open_another_users_portal(app, sb):
    _, owner = subscribe(app, sb, "owner@example.com")
    intruder = signed_in(app, "intruder@example.com")
    response = post_json(intruder, "/api/billing/portal", {"customer": owner.stripe_customer_id})
    assert response.status_code == 400
    assert response.get_json() == {"error": "No active subscription"}
    assert collection(sb, "portal_sessions") == {}


def test_status_api_and_page_agree_after_the_return(app, sb):
    client, user = subscribe(app, sb, "agree@example.com")
    body = client.get("/api/billing/status").get_json()
    assert body["has_access"] is True and body["subscription"]["status"] == "active"
    assert body["stripe_customer_id"] == user.stripe_customer_id


def test_the_page_still_shows_stored_state_when_stripe_is_down(db_url, redis_url, db, redis_conn):
    app = app_with_stripe_down(db_url, redis_url)
    client = signed_in(app, "offline@example.com")
    User.update(stripe_customer_id="cus_OFFLINE").where(User.email == "offline@example.com").execute()
    page = client.get("/dashboard/billing?from=portal", headers=HTML)
    assert page.status_code == 200
    words = text_of(page)
    assert "We could not reach Stripe just now" in words
    assert "Plans could not be loaded from Stripe just now" in words
    assert "Manage Billing" in words
