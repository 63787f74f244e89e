"""The service API (/api/v1/) in the Flask test client, on both databases: keys, customers, access answers."""

from __future__ import annotations

import time

import pytest

from shared.accounts import api_keys
from shared.accounts.users import upsert_external_user
from shared.infra.db import database, is_postgres
from shared.infra.models import ApiKey, User
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope
from tests.api_helpers import bearer, get_access, new_key, put_customer
from tests.auth_helpers import register
from tests.services import refuse_updates
from tests.stripe_fixtures import body_of, event, subscription
from tests.worker_helpers import stripe_client_for


def apply(settings, *events):
    applier = EventApplier(stripe_client_for(settings))
    return applier.apply_batch([Envelope(e["id"], body_of(e).decode(), time.time()) for e in events])


@pytest.fixture
def key(db):
    return new_key()


def subscribe(settings, customer: str, status: str = "active", created: int = 100, sub_id: str = "sub_API1"):
    sub = subscription(sub_id, customer=customer, status=status)
    apply(settings, event("customer.subscription.updated", sub, created=created))
    return sub


def test_put_creates_then_updates_and_answers_the_access(client, key):
    created = put_customer(client, key, "host-42", "ada@example.com")
    assert created.status_code == 201
    assert created.get_json() == {
        "external_id": "host-42",
        "email": "ada@example.com",
        "has_access": False,
        "stripe_customer_id": None,
        "subscription": None,
        "entitlements": [],
        "version": 1,
    }
    again = put_customer(client, key, "host-42", "ada@example.com")
    assert (again.status_code, again.get_json()["version"]) == (200, 1)  # idempotent: nothing changed
    moved = put_customer(client, key, "host-42", "Ada@New.example.com")
    assert (moved.status_code, moved.get_json()["email"], moved.get_json()["version"]) == (
        200,
        "ada@new.example.com",
        2,
    )
    assert User.select().count() == 1


def test_access_follows_applied_events_and_its_version_grows(client, key, settings):
    put_customer(client, key, "host-7", "paid@example.com")
    User.update(stripe_customer_id="cus_PAID").where(User.external_id == "host-7").execute()
    first = get_access(client, key, "host-7").get_json()
    subscribe(settings, "cus_PAID", created=100)
    active = get_access(client, key, "host-7").get_json()
    assert active["has_access"] is True
    assert active["subscription"]["status"] == "active"
    assert active["version"] > first["version"]
    subscribe(settings, "cus_PAID", status="past_due", created=50)  # stale: ignored, nothing changes
    assert get_access(client, key, "host-7").get_json() == active
    subscribe(settings, "cus_PAID", status="canceled", created=200)
    ended = get_access(client, key, "host-7").get_json()
    assert (ended["has_access"], ended["version"] > active["version"]) == (False, True)


def test_an_unknown_external_id_is_404(client, key):
    response = get_access(client, key, "nobody")
    assert response.status_code == 404
    assert response.get_json() == {"error": "No user with external id 'nobody'"}


@pytest.mark.parametrize("external_id", ["x" * 256, "%20", "tab%09here"])
def test_asking_for_a_malformed_external_id_is_400_naming_it(client, key, external_id):
    response = get_access(client, key, external_id)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("external_id: must be 1 to 255 characters")


def test_external_ids_with_slashes_and_unicode_are_addressable(client, key):
    assert put_customer(client, key, "org/7/user/9", "slash@example.com").status_code == 201
    assert get_access(client, key, "org/7/user/9").get_json()["email"] == "slash@example.com"
    assert put_customer(client, key, "ユーザー", "uni@example.com").status_code == 201
    assert get_access(client, key, "ユーザー").get_json()["external_id"] == "ユーザー"


def test_batch_answers_each_id_in_one_call(client, key, settings):
    for n in range(3):
        put_customer(client, key, f"u{n}", f"u{n}@example.com")
    User.update(stripe_customer_id="cus_B").where(User.external_id == "u1").execute()
    subscribe(settings, "cus_B")
    response = client.post(
        "/api/v1/access/batch", json={"external_ids": ["u0", "u1", "u2", "ghost"]}, headers=bearer(key)
    )
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results["ghost"] is None
    assert [results[f"u{n}"]["has_access"] for n in range(3)] == [False, True, False]
    assert results["u1"] == get_access(client, key, "u1").get_json()


def test_a_batch_of_1000_is_answered_and_1001_refused_naming_the_field(client, key):
    ids = [f"id-{n}" for n in range(1000)]
    ok = client.post("/api/v1/access/batch", json={"external_ids": ids}, headers=bearer(key))
    assert ok.status_code == 200 and len(ok.get_json()["results"]) == 1000
    too_many = client.post("/api/v1/access/batch", json={"external_ids": [*ids, "one-more"]}, headers=bearer(key))
    assert too_many.status_code == 400
    assert too_many.get_json()["error"].startswith("external_ids:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": 7}, "email"),
        ({"email": "not an email"}, "email"),
        ({"email": "a@example.com", "admin": True}, "admin"),
        ({"email": "x" * 300 + "@example.com"}, "email"),
        ([1, 2], "body"),
    ],
)
def test_a_bad_customer_body_is_400_naming_the_field_and_changes_nothing(client, key, body, field):
    response = client.put("/api/v1/customers/host-1", json=body, headers=bearer(key))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(f"{field}:") or field in response.get_json()["error"]
    assert User.select().count() == 0


@pytest.mark.parametrize("external_id", ["x" * 256, "%20", "tab%09here", "nul%00"])
def test_a_bad_external_id_is_400_and_creates_nothing(client, key, external_id):
    response = put_customer(client, key, external_id, "a@example.com")
    assert response.status_code == 400
    assert "not valid" in response.get_json()["error"]
    assert User.select().count() == 0


def test_bad_json_and_bad_batch_entries_are_400(client, key):
    garbled = client.post(
        "/api/v1/access/batch", data=b"{not json", headers={**bearer(key), "Content-Type": "application/json"}
    )
    assert garbled.status_code == 400
    assert "JSON" in garbled.get_json()["error"]
    control = client.post("/api/v1/access/batch", json={"external_ids": ["ok", "bad\x00id"]}, headers=bearer(key))
    assert control.status_code == 400
    assert control.get_json()["error"].startswith("external_ids.1:")
    form = client.put("/api/v1/customers/x", data={"email": "a@example.com"}, headers=bearer(key))
    assert form.status_code == 415


def test_a_body_over_one_mib_is_413_and_changes_nothing(client, key):
    huge = b'{"email": "' + b"a" * (1024 * 1024) + b'@example.com"}'
    response = client.put(
        "/api/v1/customers/host-1", data=huge, headers={**bearer(key), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "error" in response.get_json()
    assert User.select().count() == 0


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer psk_short", "Basic dXNlcjpwYXNz", "Bearer " + "psk_" + "A" * 59, "Token psk_x"],
)
def test_a_missing_or_wrong_key_is_401_with_json(client, key, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/api/v1/customers/x/access", headers=headers)
    assert response.status_code == 401
    assert "API key" in response.get_json()["error"]
    assert "Set-Cookie" not in response.headers


def test_a_key_with_a_wrong_secret_but_a_real_lookup_part_is_refused(client, key):
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert get_access(client, forged, "x").status_code == 401


def test_a_read_key_reads_but_may_not_write(client, key):
    reader = new_key(api_keys.READ)
    assert put_customer(client, key, "host-1", "a@example.com").status_code == 201
    assert get_access(client, reader, "host-1").status_code == 200
    refused = put_customer(client, reader, "host-2", "b@example.com")
    assert refused.status_code == 403
    assert User.select().count() == 1


def test_revoking_a_key_takes_effect_on_the_next_request(client, key):
    put_customer(client, key, "host-1", "a@example.com")
    assert get_access(client, key, "host-1").status_code == 200
    api_keys.revoke(ApiKey.get().id)
    assert get_access(client, key, "host-1").status_code == 401


def test_a_browser_session_does_not_open_the_api(client):
    register(client, "browser@example.com")
    assert client.get("/api/billing/status").status_code == 200
    assert client.get("/api/v1/customers/x/access").status_code == 401


def test_an_api_key_does_not_open_browser_pages(client, key):
    assert client.get("/api/billing/status", headers=bearer(key)).status_code == 401
    page = client.get("/dashboard/billing", headers=bearer(key))
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_last_used_is_written_at_most_once_a_minute(client, key):
    row = ApiKey.get()
    assert row.last_used_at is None
    get_access(client, key, "x")
    first = ApiKey.get().last_used_at
    assert first is not None
    get_access(client, key, "x")
    assert ApiKey.get().last_used_at == first
    assert api_keys.touch(row.id, first) == 0  # another process, within the minute: no write


def test_access_answers_list_entitlements_and_a_change_grows_the_version(client, key, settings):
    from tests.stripe_fixtures import entitlement_summary

    for n in range(2):
        put_customer(client, key, f"f{n}", f"f{n}@example.com")
    User.update(stripe_customer_id="cus_F1").where(User.external_id == "f1").execute()
    before = get_access(client, key, "f1").get_json()["version"]
    summary = entitlement_summary("cus_F1", ["sso", "export_csv"])
    apply(settings, event("entitlements.active_entitlement_summary.updated", summary, created=100))
    answer = get_access(client, key, "f1").get_json()
    assert (answer["entitlements"], answer["version"]) == (["export_csv", "sso"], before + 1)
    assert answer["has_access"] is False  # features do not change the subscription rule
    results = client.post("/api/v1/access/batch", json={"external_ids": ["f0", "f1"]}, headers=bearer(key))
    assert [r["entitlements"] for r in results.get_json()["results"].values()] == [[], ["export_csv", "sso"]]


def test_a_failed_last_use_write_does_not_fail_the_answer_and_is_tried_again(client, key):
    upsert_external_user("host-1", "a@example.com")
    refuse_updates("api_key", "key table refused")
    assert get_access(client, key, "host-1").status_code == 200
    assert ApiKey.get().last_used_at is None
    database.execute_sql("DROP TRIGGER refuse ON api_key" if is_postgres() else "DROP TRIGGER refuse")
    assert get_access(client, key, "host-1").status_code == 200
    assert ApiKey.get().last_used_at is not None  # not held back for a minute by the failed try
