"""GET /api/billing/status and the minimal sign-in it needs."""

from __future__ import annotations

import time

from shared.infra.models import User
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope
from tests.auth_helpers import csrf_token, login, register
from tests.stripe_fixtures import body_of, event, subscription
from tests.worker_helpers import stripe_client_for


def apply(settings, *events):
    applier = EventApplier(stripe_client_for(settings))
    return applier.apply_batch([Envelope(e["id"], body_of(e).decode(), time.time()) for e in events])


def test_status_requires_login_with_a_json_401(client):
    response = client.get("/api/billing/status")
    assert response.status_code == 401
    assert response.get_json() == {"error": "Login required"}


def test_new_user_has_no_subscription_and_no_access(client):
    register(client, "new@example.com")
    body = client.get("/api/billing/status").get_json()
    user = User.get(User.email == "new@example.com")
    assert body == {
        "user_id": user.id,
        "email": "new@example.com",
        "stripe_customer_id": None,
        "has_access": False,
        "subscription": None,
        "entitlements": [],  # no Stripe features at all: an empty list, nothing breaks
    }


def test_status_reflects_applied_events_with_iso_timestamps(client, settings):
    register(client, "paid@example.com")
    User.update(stripe_customer_id="cus_PAID").where(User.email == "paid@example.com").execute()
    sub = subscription(
        customer="cus_PAID",
        status="active",
        period_end=1_800_000_000,
        cancel_at_period_end=True,
        cancel_at=1_800_000_000,
    )
    apply(settings, event("customer.subscription.created", sub, created=100))
    body = client.get("/api/billing/status").get_json()
    assert body["has_access"] is True
    assert body["stripe_customer_id"] == "cus_PAID"
    subscription_json = body["subscription"]
    assert {
        k: subscription_json[k]
        for k in ("id", "status", "price_id", "cancel_at_period_end", "cancel_at", "current_period_end", "trial_end")
    } == {
        "id": sub["id"],
        "status": "active",
        "price_id": "price_basic",
        "cancel_at_period_end": True,
        "cancel_at": "2027-01-15T08:00:00Z",
        "current_period_end": "2027-01-15T08:00:00Z",
        "trial_end": None,
    }


def test_another_users_subscription_is_not_shown(client, settings):
    register(client, "me@example.com")
    sub = subscription(customer="cus_SOMEONE_ELSE")
    apply(settings, event("customer.subscription.created", sub, created=100))
    assert client.get("/api/billing/status").get_json()["subscription"] is None


def test_register_refuses_bad_input_and_creates_nothing(client):
    for email, password, message in [
        ("not-an-email", "correct horse battery", "valid email"),
        ("short@example.com", "short", "at least 8"),
    ]:
        response = register(client, email, password)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    assert User.select().count() == 0


def test_register_refuses_a_taken_email(client):
    register(client, "taken@example.com")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/register")})
    response = register(client, "Taken@Example.com")
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)
    assert User.select().count() == 1


def test_login_with_a_wrong_password_is_refused(client):
    register(client, "who@example.com")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/register")})
    assert login(client, "who@example.com", "wrong password!").status_code == 401
    assert client.get("/api/billing/status").status_code == 401
    assert login(client, "who@example.com").status_code == 302
    assert client.get("/api/billing/status").status_code == 200


def test_forms_without_a_csrf_token_are_refused(client):
    response = client.post("/register", data={"email": "csrf@example.com", "password": "correct horse battery"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert User.select().count() == 0


def test_passwords_are_stored_as_argon2id_hashes(client):
    register(client, "hash@example.com", "correct horse battery")
    stored = User.get(User.email == "hash@example.com").password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_status_lists_the_customers_entitlements_sorted(client):
    from shared.infra.models import Entitlement

    register(client, "feat@example.com")
    User.update(stripe_customer_id="cus_FEAT").where(User.email == "feat@example.com").execute()
    for feature, key in (("feat_b", "sso"), ("feat_a", "export"), ("feat_c", "api")):
        Entitlement.create(customer_id="cus_FEAT", feature_id=feature, lookup_key=key)
    Entitlement.create(customer_id="cus_OTHER", feature_id="feat_d", lookup_key="not_mine")
    assert client.get("/api/billing/status").get_json()["entitlements"] == ["api", "export", "sso"]
