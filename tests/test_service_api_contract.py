"""/api/v1/ against the sandbox: sessions for a host app's user, and the OpenAPI document against real answers.

The document must be valid OpenAPI 3.1, and every response it documents
(path, method, status) must be produced here by a real call whose body its
schema accepts; a documented answer no call produces fails the test too.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_document

from portal_service import create_app
from shared.accounts import api_keys
from shared.infra.models import User
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope
from tests.api_helpers import bearer, new_key
from tests.billing_helpers import pay_on_hosted_page
from tests.settings_helpers import make_settings
from tests.worker_helpers import stripe_client_for

BASE = "http://localhost"
CUSTOMER = "/api/v1/customers/{external_id}"
ACCESS = CUSTOMER + "/access"
BATCH = "/api/v1/access/batch"
PORTAL = CUSTOMER + "/portal-session"
CHECKOUT = CUSTOMER + "/checkout-session"


@pytest.fixture
def settings(db_url, redis_url, sb):
    sb.sandbox.reset()
    return make_settings(db_url, redis_url, stripe_api_base=sb.api_base, app_base_url=BASE)


@dataclasses.dataclass
class Api:
    """Calls /api/v1/ by route template and keeps each (method, template, status, body) seen."""

    client: object
    key: str
    seen: list = dataclasses.field(default_factory=list)

    def call(self, method: str, template: str, external_id: str = "", body=None, key: str | None = None, **kw):
        path = template.format(external_id=external_id)
        headers = {**bearer(key or self.key), **kw.pop("headers", {})}
        send = {"json": body} if body is not None else {}
        response = self.client.open(path, method=method, headers=headers, **send, **kw)
        self.seen.append((method.lower(), template, response.status_code, response.get_json()))
        return response


def apply_sandbox_events(settings, sb):
    """Deliver what the sandbox recorded, as the worker would: oldest first."""
    events = sorted(sb.sandbox.events(), key=lambda e: e["created"])
    envelopes = [Envelope(e["id"], json.dumps(e), time.time()) for e in events]
    return EventApplier(stripe_client_for(settings)).apply_batch(envelopes)


@pytest.fixture
def api(settings, db, redis_conn):
    app = create_app(settings)
    app.config.update(TESTING=True)
    return Api(app.test_client(), new_key())


def subscribe_through_the_api(api: Api, settings, sb, external_id: str, email: str) -> dict:
    api.call("PUT", CUSTOMER, external_id, {"email": email})
    url = api.call("POST", CHECKOUT, external_id, {"price": "basic"}).get_json()["url"]
    pay_on_hosted_page(url)
    apply_sandbox_events(settings, sb)
    return api.call("GET", ACCESS, external_id).get_json()


def test_checkout_opened_by_the_host_app_links_the_user_through_the_webhook(api, settings, sb):
    api.call("PUT", CUSTOMER, "host-1", {"email": "one@example.com"})
    before = api.call("GET", ACCESS, "host-1").get_json()
    after = subscribe_through_the_api(api, settings, sb, "host-1", "one@example.com")
    assert after["has_access"] is True
    assert after["stripe_customer_id"] == User.get(User.external_id == "host-1").stripe_customer_id
    assert after["subscription"]["price_id"] == "price_sbx_basic"
    assert after["version"] > before["version"]


def test_sessions_follow_the_browser_rules(api, settings, sb):
    api.call("PUT", CUSTOMER, "fresh", {"email": "fresh@example.com"})
    assert api.call("POST", PORTAL, "fresh", {}).get_json() == {"error": "No active subscription"}
    unknown_plan = api.call("POST", CHECKOUT, "fresh", {"price": "platinum"})
    assert unknown_plan.status_code == 400 and "Unknown plan" in unknown_plan.get_json()["error"]
    subscribe_through_the_api(api, settings, sb, "payer", "payer@example.com")
    portal = api.call("POST", PORTAL, "payer", {"flow": "subscription_cancel"})
    assert portal.status_code == 200 and portal.get_json()["url"].startswith(sb.api_base)
    bad_flow = api.call("POST", PORTAL, "payer", {"flow": "delete_everything"})
    assert bad_flow.status_code == 400 and bad_flow.get_json()["error"].startswith("flow:")
    again = api.call("POST", CHECKOUT, "payer", {"price": "pro"})  # subscribed: the portal instead
    assert again.status_code == 200 and again.get_json()["url"] != portal.get_json()["url"]
    assert api.call("POST", PORTAL, "ghost", {}).status_code == 404


def test_stripe_unreachable_is_a_502(api, settings):
    api.call("PUT", CUSTOMER, "u", {"email": "u@example.com"})
    User.update(stripe_customer_id="cus_somewhere").where(User.external_id == "u").execute()
    unreachable = dataclasses.replace(settings, stripe_api_base="http://127.0.0.1:9")
    app = create_app(unreachable, stripe_client=stripe_client_for(unreachable))
    app.config.update(TESTING=True)
    response = Api(app.test_client(), api.key).call("POST", PORTAL, "u", {})
    assert response.status_code == 502
    assert response.get_json() == {"error": "Stripe could not open the portal just now. Please try again."}


def every_documented_answer(document: dict) -> set[tuple[str, str, int]]:
    return {
        (method, path, int(status))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }


def test_the_document_is_valid_openapi_3_1_and_every_documented_answer_is_real(api, settings, sb):
    document = api.client.get("/api/v1/openapi.json").get_json()
    validate_document(document)
    assert document["openapi"].startswith("3.1")
    produce_every_answer(api, settings, sb)
    seen = set()
    for method, template, status, body in api.seen:
        schema = document["paths"][template][method]["responses"][str(status)]["content"]["application/json"]["schema"]
        OAS31Validator({**schema, "components": document["components"]}).validate(body)
        seen.add((method, template, status))
    assert every_documented_answer(document) - seen == set()


def produce_every_answer(api: Api, settings, sb) -> None:
    reader = new_key(api_keys.READ)
    too_big = {"data": b"{" + b" " * (1024 * 1024) + b"}", "headers": {"Content-Type": "application/json"}}
    form = {"data": {"email": "x@example.com"}}
    for template, body in ((CUSTOMER, {"email": "c@example.com"}), (PORTAL, {}), (CHECKOUT, {"price": "basic"})):
        method = "PUT" if template == CUSTOMER else "POST"
        api.call(method, template, "c", body, key="psk_wrong")  # 401
        api.call(method, template, "c", body, key=reader)  # 403
        api.call(method, template, "c", **too_big)  # 413
        api.call(method, template, "c", **form)  # 415
        api.call(method, template, "c", {"unexpected": 1})  # 400
    api.call("PUT", CUSTOMER, "c", {"email": "c@example.com"})  # 201
    api.call("PUT", CUSTOMER, "c", {"email": "c2@example.com"})  # 200
    api.call("GET", ACCESS, "c")  # 200
    api.call("GET", ACCESS, "nobody")  # 404
    api.call("GET", ACCESS, "x" * 256)  # 400
    api.call("GET", ACCESS, "c", key="psk_wrong")  # 401
    api.call("POST", BATCH, body={"external_ids": ["c", "nobody"]})  # 200
    api.call("POST", BATCH, body={"external_ids": "c"})  # 400
    api.call("POST", BATCH, body={"external_ids": []}, key="psk_wrong")  # 401
    api.call("POST", BATCH, **too_big)  # 413
    api.call("POST", BATCH, **form)  # 415
    for template, body in ((PORTAL, {}), (CHECKOUT, {"price": "basic"})):
        api.call("POST", template, "nobody", body)  # 404
        api.call("POST", template, "c", body)  # 200 (checkout) / 400 (portal: no subscription)
    User.update(stripe_customer_id="cus_not_in_stripe").where(User.external_id == "c").execute()
    api.call("POST", PORTAL, "c", {})  # 502: the sandbox knows no such customer
    api.call("POST", CHECKOUT, "c", {"price": "basic"})  # 502
    subscribe_through_the_api(api, settings, sb, "paid", "paid@example.com")
    api.call("POST", PORTAL, "paid", {})  # 200
