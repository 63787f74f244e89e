"""The access check's layer below Flask gives the route's answer, byte for byte, and heals a lost connection."""

from __future__ import annotations

import logging

import psycopg2
import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from portal_service.access_fast_path import AccessFastPath
from shared.billing.status import access_answers
from shared.infra.db import database
from shared.infra.models import User
from tests.api_helpers import bearer, get_access, new_key, put_customer
from tests.services import postgres_only
from tests.test_service_api import subscribe


def fast_path_of(app) -> AccessFastPath:
    layer = app.wsgi_app
    while not isinstance(layer, AccessFastPath):
        layer = getattr(layer, "app", None) or layer.wsgi
    return layer


def answers(app, path: str, headers: dict) -> tuple:
    """(status, headers, body) from the whole stack, and from the route alone."""
    fast = fast_path_of(app)
    both = []
    for wsgi in (fast, fast.wsgi):
        body, status, response_headers = run_wsgi_app(wsgi, EnvironBuilder(path=path, headers=headers).get_environ())
        both.append((status, sorted(response_headers.items()), b"".join(body)))
    return tuple(both)


@pytest.fixture
def key(db):
    return new_key()


def test_the_answer_is_the_routes_byte_for_byte(app, client, key, settings):
    put_customer(client, key, "plain", "plain@example.com")
    put_customer(client, key, "ユーザー/1", "ünï@example.com")
    User.update(stripe_customer_id="cus_FAST").where(User.external_id == "plain").execute()
    subscribe(settings, "cus_FAST", status="trialing")
    for external_id in ("plain", "ユーザー/1"):
        fast, route = answers(app, f"/api/v1/customers/{external_id}/access", bearer(key))
        assert fast[1] == route[1], set(fast[1]) ^ set(route[1])
        assert fast == route
        assert fast[0] == "200 OK"


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [
        ("/api/v1/customers/nobody/access", "good", "404 NOT FOUND"),
        ("/api/v1/customers/plain/access", "Bearer psk_" + "A" * 59, "401 UNAUTHORIZED"),
        ("/api/v1/customers/plain/access", "", "401 UNAUTHORIZED"),
        ("/api/v1/customers/" + "x" * 256 + "/access", "good", "400 BAD REQUEST"),
    ],
)
def test_what_it_leaves_to_the_route_is_answered_by_the_route(app, client, key, path, authorization, status):
    put_customer(client, key, "plain", "plain@example.com")
    headers = bearer(key) if authorization == "good" else {"Authorization": authorization}
    fast, route = answers(app, path, headers)
    assert fast == route
    assert fast[0] == status


@postgres_only
def test_a_connection_the_server_ended_is_replaced_without_a_failed_answer(client, key, db_url, caplog):
    put_customer(client, key, "plain", "plain@example.com")
    assert get_access(client, key, "plain").status_code == 200
    backend = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]  # the test client's thread is ours
    with psycopg2.connect(db_url) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (backend,))
    with caplog.at_level(logging.WARNING, logger="portal.api"):
        response = get_access(client, key, "plain")
    assert response.status_code == 200
    assert response.get_json()["email"] == "plain@example.com"
    assert "access fast path left a request to the route" in caplog.text


@postgres_only
def test_a_compiled_query_inside_a_transaction_leaves_the_transaction_usable(client, key):
    put_customer(client, key, "plain", "plain@example.com")
    database.close()  # a new connection: nothing prepared on it yet
    with database.atomic():
        assert access_answers(["plain"])["plain"]["email"] == "plain@example.com"
        assert User.select().count() == 1  # the transaction was not aborted


def test_entitlements_are_in_the_fast_answer_sorted_and_it_stays_the_routes(app, client, key, settings):
    import json

    from shared.infra.models import Entitlement

    put_customer(client, key, "featured", "featured@example.com")
    User.update(stripe_customer_id="cus_FEAT").where(User.external_id == "featured").execute()
    subscribe(settings, "cus_FEAT", sub_id="sub_FEAT1")
    subscribe(settings, "cus_FEAT", sub_id="sub_FEAT2")  # two subscription rows: keys must not repeat
    for feature, lookup_key in (("feat_2", "sso"), ("feat_1", "export_csv"), ("feat_3", "api")):
        Entitlement.create(customer_id="cus_FEAT", feature_id=feature, lookup_key=lookup_key)
    fast, route = answers(app, "/api/v1/customers/featured/access", bearer(key))
    assert fast == route and fast[0] == "200 OK"
    assert json.loads(fast[2])["entitlements"] == ["api", "export_csv", "sso"]
    put_customer(client, key, "plain2", "plain2@example.com")  # no customer at all: []
    fast, route = answers(app, "/api/v1/customers/plain2/access", bearer(key))
    assert fast == route and json.loads(fast[2])["entitlements"] == []
