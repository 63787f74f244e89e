"""The example host app (examples/host_app/): its notification receiver, version ordering, and gating.

The receiver is tested with notifications signed by the ``standardwebhooks`` package; the gating
against the real service app served over HTTP, on both databases.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import urllib.parse
from datetime import UTC, datetime

import jwt
import pytest

from examples.host_app import create_app, store
from shared.infra.models import User
from tests.api_helpers import get_access, new_key
from tests.host_app_helpers import (
    HANDOFF_SECRET,
    HOST_WEBHOOK_SECRET,
    MINUTES,
    access_answer,
    host_app,
    host_config,
    notification,
    post_signed,
    sign_in,
    signed_headers,
)
from tests.ops_helpers import ServedApp
from tests.processes import ROOT
from tests.settings_helpers import make_settings
from tests.test_service_api import subscribe


@pytest.fixture
def host(tmp_path):
    """The host app with no service behind it: what it shows comes from notifications alone."""
    return host_app(tmp_path)


@pytest.fixture
def browser(host):
    client = host.test_client()
    assert sign_in(client).status_code == 302
    return client


def held(app, external_id: str = "1"):
    with app.app_context():
        return store.held_access(external_id)


# -- the receiver ---------------------------------------------------------------


def test_a_signed_notification_is_kept_and_opens_the_gated_page(host, browser):
    answer = post_signed(browser, notification(access_answer(version=2)))
    assert (answer.status_code, answer.get_json()) == (200, {"kept": True})
    page = browser.get("/pro")
    assert page.status_code == 200 and "Unlocked" in page.text
    assert 'id="source">notified at' in page.text and 'id="version">2<' in page.text


def test_older_and_repeated_versions_are_acknowledged_and_dropped(host, browser):
    assert post_signed(browser, notification(access_answer(version=3, has_access=False))).get_json()["kept"]
    older = post_signed(browser, notification(access_answer(version=2, has_access=True)))
    again = post_signed(browser, notification(access_answer(version=3, has_access=True)))
    assert [r.status_code for r in (older, again)] == [200, 200]  # 2xx: the sender must not retry
    assert [r.get_json()["kept"] for r in (older, again)] == [False, False]
    assert (held(host).version, held(host).has_access) == (3, False)
    assert browser.get("/pro").status_code == 403
    newer = post_signed(browser, notification(access_answer(version=4, has_access=True)))
    assert newer.get_json()["kept"] and browser.get("/pro").status_code == 200


def test_notifications_for_other_users_are_kept_apart(host, browser):
    post_signed(browser, notification(access_answer(external_id="someone-else", version=9)))
    assert held(host, "someone-else").version == 9 and held(host, "1") is None


def wrong_secret() -> str:
    return "whsec_" + base64.b64encode(b"a secret of some other host app").decode()


REFUSALS = {
    "no signature headers": lambda body: {"Content-Type": "application/json"},
    "another secret": lambda body: signed_headers(body, secret=wrong_secret()),
    "ten minutes old": lambda body: signed_headers(body, at=datetime.now(UTC) - 10 * MINUTES),
    "ten minutes ahead": lambda body: signed_headers(body, at=datetime.now(UTC) + 10 * MINUTES),
    "signed for another body": lambda body: signed_headers(body.replace(b"true", b"false")),
    "signed for another message id": lambda body: {**signed_headers(body), "webhook-id": "msg_other"},
    "a timestamp that is no number": lambda body: {**signed_headers(body), "webhook-timestamp": "soon"},
    "a signature that is garbage": lambda body: {**signed_headers(body), "webhook-signature": "v1,\x00" * 50},
}


@pytest.mark.parametrize("case", REFUSALS)
def test_an_unverifiable_notification_is_401_and_changes_nothing(host, browser, case):
    body = json.dumps(notification(access_answer(version=5, has_access=True))).encode()
    answer = browser.post("/hooks/billing", data=body, headers=REFUSALS[case](body))
    assert answer.status_code == 401 and answer.get_json()["error"].startswith("signature: ")
    assert held(host) is None


def malformed(**changes) -> dict:
    body = notification(access_answer(version=5))
    for key, value in changes.items():
        if value is DROP:
            del body[key]
        else:
            body[key] = value
    return body


DROP = object()
MALFORMED = [
    (b"not json", "not JSON"),
    (b"[1, 2]", "type"),
    (malformed(type=DROP), "type"),
    (malformed(type=7), "type"),
    (malformed(external_id=DROP), "external_id"),
    (malformed(external_id=""), "external_id"),
    (malformed(external_id="x" * 256), "external_id"),
    (malformed(external_id=["1"]), "external_id"),
    (malformed(version="5"), "version"),
    (malformed(version=True), "version"),
    (malformed(version=0), "version"),
    (malformed(version=DROP), "version"),
    (malformed(access=DROP), "access"),
    (malformed(access="granted"), "access"),
    (malformed(access={"version": 5, "external_id": "1"}), "access"),
    (malformed(access={**access_answer(version=5), "has_access": "yes"}), "access"),
    (malformed(access=access_answer(version=6)), "access"),  # not the notification's version
    (malformed(access=access_answer(external_id="2", version=5)), "access"),  # nor its user
    ("\u0000\u202e\ud7ff control characters".encode(), "not JSON"),
]


@pytest.mark.parametrize(("payload", "named"), MALFORMED)
def test_a_signed_but_malformed_notification_is_400_naming_the_problem(host, browser, payload, named):
    answer = post_signed(browser, payload)
    assert answer.status_code == 400 and named in answer.get_json()["error"]
    assert held(host) is None


def test_a_notification_of_another_type_is_acknowledged_and_ignored(host, browser):
    answer = post_signed(browser, {"type": "customer.something.new", "external_id": "1"})
    assert (answer.status_code, answer.get_json()["kept"]) == (200, False)
    assert held(host) is None


def test_a_body_over_64_kib_is_413_and_changes_nothing(host, browser):
    body = notification(access_answer(version=5))
    body["padding"] = "x" * 70_000
    assert post_signed(browser, body).status_code == 413
    assert held(host) is None


def test_the_receiver_needs_no_browser_session_or_csrf_token(host):
    answer = post_signed(host.test_client(), notification(access_answer(version=2)))
    assert answer.status_code == 200 and held(host).version == 2


def test_the_example_uses_the_service_over_http_only():
    """Nothing of the service's code: the example must work copied into a repository of its own."""
    service_packages = {"portal_service", "worker", "shared", "stripe_sandbox", "devrun", "bench", "tests"}
    found = []
    for path in sorted((ROOT / "examples").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in service_packages]
    assert found == []


def test_a_missing_setting_stops_the_app_naming_it(tmp_path):
    config = host_config(tmp_path)
    del config["WEBHOOK_SECRET"]
    with pytest.raises(RuntimeError, match="ACME_WEBHOOK_SECRET"):
        create_app(config)


def test_the_app_reads_its_settings_from_acme_variables(tmp_path, monkeypatch):
    for name, value in host_config(tmp_path, BILLING_URL="http://billing.example/", ACCESS_CACHE_SECONDS=30).items():
        monkeypatch.setenv(f"ACME_{name}", str(value))
    config = create_app().config
    assert (config["BILLING_URL"], config["ACCESS_CACHE_SECONDS"]) == ("http://billing.example", 30)
    assert config["WEBHOOK_SECRET"] == HOST_WEBHOOK_SECRET and config["SESSION_COOKIE_NAME"] == "acme_session"


@pytest.mark.parametrize("seconds", ["soon", -1, True, None])
def test_a_cache_time_that_is_no_number_of_seconds_stops_the_app(tmp_path, seconds):
    with pytest.raises(RuntimeError, match="ACME_ACCESS_CACHE_SECONDS"):
        create_app(host_config(tmp_path, ACCESS_CACHE_SECONDS=seconds))


def test_without_the_service_and_nothing_held_the_gated_page_stays_locked(browser):
    answer = browser.get("/pro")
    assert answer.status_code == 503 and "not reachable" in answer.text


def test_the_gated_page_needs_a_signed_in_user(host):
    answer = host.test_client().get("/pro")
    assert answer.status_code == 302 and answer.location.endswith("/login")


# -- against the service --------------------------------------------------------


@pytest.fixture
def settings(db_url, redis_url):
    return make_settings(db_url, redis_url, handoff_secrets=(HANDOFF_SECRET,))


@pytest.fixture
def service(app):
    served = ServedApp(app)
    yield served.url
    served.stop()


@pytest.fixture
def key(db):
    return new_key()


@pytest.fixture
def served_host(tmp_path, service, key):
    return host_app(tmp_path, BILLING_URL=service, BILLING_API_KEY=key)


def test_the_gated_page_asks_once_then_holds_the_answer_until_a_notification(served_host, client, key, settings):
    browser = served_host.test_client()
    sign_in(browser)
    locked = browser.get("/pro")  # unknown at the service: provisioned, then locked
    assert locked.status_code == 403 and "Locked" in locked.text
    assert User.get(User.external_id == "1").email == "ada@acme.example"
    User.update(stripe_customer_id="cus_ACME").where(User.external_id == "1").execute()
    subscribe(settings, "cus_ACME")
    assert browser.get("/pro").status_code == 403  # the held answer, until told otherwise
    paid = get_access(client, key, "1").get_json()
    assert paid["has_access"] and post_signed(browser, notification(paid)).get_json() == {"kept": True}
    assert browser.get("/pro").status_code == 200


def test_a_stale_held_answer_is_asked_again(served_host, settings):
    served_host.config["ACCESS_CACHE_SECONDS"] = 0
    browser = served_host.test_client()
    sign_in(browser)
    assert browser.get("/pro").status_code == 403
    User.update(stripe_customer_id="cus_ACME").where(User.external_id == "1").execute()
    subscribe(settings, "cus_ACME", created=100)
    assert browser.get("/pro").status_code == 200
    subscribe(settings, "cus_ACME", status="canceled", created=200)
    page = browser.get("/account")
    assert 'id="has-access">none<' in page.text and 'id="source">asked at' in page.text


def test_an_asked_answer_never_replaces_a_newer_notified_one(served_host, client, key):
    served_host.config["ACCESS_CACHE_SECONDS"] = 0
    browser = served_host.test_client()
    sign_in(browser)
    browser.get("/pro")  # provisioned: version 1 at the service
    post_signed(browser, notification(access_answer(version=50, has_access=True)))
    assert browser.get("/pro").status_code == 200  # the service still says version 1, no access
    assert held(served_host).version == 50


def test_billing_provisions_the_user_and_hands_off_to_the_service(served_host, client):
    browser = served_host.test_client()
    sign_in(browser)
    answer = browser.get("/billing")
    assert answer.status_code == 302
    location = urllib.parse.urlsplit(answer.location)
    assert location.path == "/auth/handoff"
    token = urllib.parse.parse_qs(location.query)["token"][0]
    claims = jwt.decode(token, HANDOFF_SECRET, algorithms=["HS256"], audience="portal-service")
    assert (claims["sub"], claims["email"], claims["exp"] - claims["iat"]) == ("1", "ada@acme.example", 60)
    assert User.get(User.external_id == "1").email == "ada@acme.example"  # provisioned before the hand-off
    landed = client.get(f"{location.path}?{location.query}")
    assert landed.status_code == 303 and landed.location.endswith("/dashboard/billing")
    assert "ada@acme.example" in client.get("/dashboard/billing", headers={"Accept": "text/html"}).text


def test_billing_with_the_service_down_says_so(browser):
    answer = browser.get("/billing")
    assert answer.status_code == 503 and "not reachable" in answer.text


def test_a_held_answer_is_shown_while_the_service_is_down(host, browser):
    host.config["ACCESS_CACHE_SECONDS"] = 0
    post_signed(browser, notification(access_answer(version=2)))
    assert browser.get("/pro").status_code == 200  # asked, refused, fell back to what it holds


def test_the_readmes_receiver_example_keeps_the_newest_answer_and_refuses_a_forged_one():
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"### Notifications: told the moment.*?```python\n(.*?)```", readme, re.S).group(1)
    names = {"__name__": "readme_example", "HOST_WEBHOOK_SECRET": HOST_WEBHOOK_SECRET}
    exec(example, names)
    client = names["app"].test_client()
    for version in (7, 6):  # the older one arrives late
        body = json.dumps(notification(access_answer(version=version))).encode()
        assert client.post("/hooks/billing", data=body, headers=signed_headers(body)).status_code == 204
    assert names["latest"] == {"1": access_answer(version=7)}
    forged = signed_headers(body, secret="whsec_" + base64.b64encode(b"someone else").decode())
    assert client.post("/hooks/billing", data=body, headers=forged).status_code == 400
