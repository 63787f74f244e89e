"""End to end against the Stripe sandbox: real gunicorn, two real workers, and
webhooks delivered the way Stripe really delivers them: twice, out of order,
late, and after failed attempts; as snapshot events and as thin notifications
(an event destination's thin payload style), which the workers follow by fetching."""

from __future__ import annotations

import json
import sys
import urllib.request

import pytest
import stripe

from shared.accounts.users import create_user
from shared.billing.entitlements import entitlements_by_customer
from shared.infra.db import database, init_database
from shared.infra.models import StripeEvent, Subscription, User
from shared.sync.stripe_objects import subscription_columns
from stripe_sandbox import thin
from tests.processes import Process, run_cli, service_env, start_web, start_worker
from tests.services import free_port, wait_for
from tests.settings_helpers import TEST_PASSWORDS, WEBHOOK_SECRET, make_settings

COMPARED = ["status", "price_id", "cancel_at_period_end", "cancel_at", "current_period_end", "customer_id"]


class SandboxControl:
    def __init__(self, url: str):
        self.url = url

    def post(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")


def events_of(client, customer_id: str) -> set[str]:
    """Every event Stripe (the sandbox) created about this customer."""
    found = set()
    for event in client.v1.events.list(params={"limit": 100}).auto_paging_iter():
        obj = event.to_dict()["data"]["object"]
        owner = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
        if owner == customer_id:
            found.add(event.id)
    return found


@pytest.fixture(params=["snapshot", "thin"])
def style(request) -> str:
    return request.param


@pytest.fixture
def stack(db_url, redis_url, redis_conn, tmp_path, style):
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    settings = make_settings(
        db_url,
        redis_url,
        stripe_api_base=sandbox_url,
        stripe_secret_key="sk_test_e2e",
        stripe_webhook_secrets=(WEBHOOK_SECRET,),
    )
    env = service_env(settings)
    assert run_cli(env, "db", "upgrade").returncode == 0
    web, web_url = start_web(env, tmp_path)
    sandbox = Process(
        "sandbox",
        [
            sys.executable,
            "-m",
            "stripe_sandbox",
            "--port",
            str(sandbox_port),
            "--webhook-url" if style == "snapshot" else "--thin-webhook-url",
            web_url + "/api/webhooks/stripe",
            "--webhook-secret",
            WEBHOOK_SECRET,
            "--retry-delays",
            "0.5,1,1,2,2",
        ],
        env,
        tmp_path,
    )
    workers = [start_worker(env, tmp_path, name=f"worker{i}") for i in range(2)]
    init_database(db_url)
    database.connect(reuse_if_open=True)
    client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": sandbox_url})
    wait_for(lambda: client.v1.prices.list(), timeout=30, what="the sandbox")
    yield client, SandboxControl(sandbox_url)
    for process in [*workers, sandbox, web]:
        process.stop()
    database.close()


def settles_to_stripe(client, sub_id: str):
    newest = subscription_columns(client.v1.subscriptions.retrieve(sub_id).to_dict())
    stored = Subscription.get_or_none(Subscription.id == sub_id)
    if stored is None:
        return False
    return all(getattr(stored, name) == newest[name] for name in COMPARED)


def test_duplicated_reordered_late_and_retried_deliveries_end_in_stripes_state(stack, style):
    client, control = stack
    user = create_user("journey@example.com", "correct horse battery", TEST_PASSWORDS)

    control.post("/_sandbox/delivery", {"duplicate": 2})  # every event three times
    made = control.post(
        "/_sandbox/subscriptions",
        {"customer_email": "journey@example.com", "price": "basic", "client_reference_id": str(user.id)},
    )
    sub_id, customer_id = made["subscription"]["id"], made["customer"]["id"]
    wait_for(lambda: settles_to_stripe(client, sub_id), timeout=60, what="checkout state")
    wait_for(lambda: User.get_by_id(user.id).stripe_customer_id == customer_id, timeout=30, what="user linked")

    control.post("/_sandbox/reset_delivery")
    control.post("/_sandbox/delivery", {"hold": True, "order": "reverse"})  # newest first
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    item = client.v1.subscriptions.retrieve(sub_id)["items"]["data"][0]
    client.v1.subscriptions.update(
        sub_id, params={"items": [{"id": item["id"], "price": "price_sbx_pro"}], "proration_behavior": "none"}
    )
    control.post("/_sandbox/delivery/flush")
    wait_for(lambda: settles_to_stripe(client, sub_id), timeout=60, what="state after reversed deliveries")

    control.post("/_sandbox/reset_delivery")
    control.post("/_sandbox/delivery", {"delay_seconds": 1.5, "fail_next": 2})  # late, and retried
    client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    wait_for(
        lambda: settles_to_stripe(client, sub_id) and not Subscription.get_by_id(sub_id).cancel_at_period_end,
        timeout=60,
        what="reactivation delivered late",
    )

    control.post("/_sandbox/deliveries/wait", {"timeout": 30})
    delivered = {thin.thin_id(e) if style == "thin" else e for e in events_of(client, customer_id)}
    assert len(delivered) >= 10  # checkout, cancel, switch, reactivate and their invoices
    wait_for(
        lambda: StripeEvent.select().where(StripeEvent.id.in_(list(delivered))).count() == len(delivered),
        timeout=30,
        what="every event in the ledger",
    )
    applied_once = StripeEvent.select().where(StripeEvent.id.in_(list(delivered)), StripeEvent.attempts != 1)
    assert [e.id for e in applied_once if e.outcome != "failed"] == []  # duplicates were no-ops
    failed = StripeEvent.select().where(StripeEvent.id.in_(list(delivered)), StripeEvent.outcome == "failed")
    assert [(e.id, e.type, e.error) for e in failed] == []
    stored = Subscription.get_by_id(sub_id)
    assert (stored.status, stored.price_id, stored.cancel_at_period_end) == ("active", "price_sbx_pro", False)
    listed = client.v1.entitlements.active_entitlements.list(params={"customer": customer_id, "limit": 100})
    assert entitlements_by_customer([customer_id])[customer_id] == sorted(e.lookup_key for e in listed.data)
