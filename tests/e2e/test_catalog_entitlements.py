"""End to end: a feature added to a product in the catalog file and applied with ``portal-service
catalog apply`` reaches the access answer of a subscribed user, through the next event (real gunicorn
and worker processes, the sandbox's webhooks) and, with the event lost, through ``portal-service sync``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shared.accounts.users import create_user
from shared.billing.entitlements import entitlements_by_customer
from shared.infra.db import database, init_database
from shared.infra.models import User
from stripe_sandbox.server import run_in_thread
from tests.processes import run_cli, service_env, start_web, start_worker
from tests.services import wait_for
from tests.settings_helpers import TEST_PASSWORDS, WEBHOOK_SECRET, make_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "catalog.example.toml"
BASIC = '["projects_5", "export_csv", "email_support"]'


@pytest.fixture
def stack(db_url, redis_url, redis_conn, tmp_path):
    with run_in_thread(retry_delays=(0.1, 0.5)) as sandbox:
        settings = dataclasses.replace(make_settings(db_url, redis_url), stripe_api_base=sandbox.api_base)
        env = service_env(settings)
        assert run_cli(env, "db", "upgrade").returncode == 0
        init_database(db_url)
        database.connect(reuse_if_open=True)
        web, url = start_web(env, tmp_path)
        worker = start_worker(env, tmp_path)
        sandbox.sandbox.add_webhook_endpoint(url + "/api/webhooks/stripe", WEBHOOK_SECRET)
        try:
            yield sandbox, env
        finally:
            worker.stop()
            web.stop()
            database.close()


def entitlements_of(email: str) -> list[str]:
    customer = User.get(User.email == email).stripe_customer_id
    return entitlements_by_customer([customer]).get(customer or "", [])


def apply_catalog(env, tmp_path, basic_features: str) -> str:
    path = tmp_path / "catalog.toml"
    path.write_text(EXAMPLE.read_text().replace(f"features = {BASIC}", f"features = {basic_features}"))
    result = run_cli(env, "catalog", "apply", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_feature_added_in_the_catalog_reaches_subscribed_users(stack, tmp_path):
    sandbox, env = stack
    user = create_user("feat@example.com", "correct horse battery", TEST_PASSWORDS)
    sandbox.sandbox.create_subscription("feat@example.com", "basic", client_reference_id=str(user.id))
    wait_for(
        lambda: entitlements_of(user.email) == ["email_support", "export_csv", "projects_5"], 30, "Basic's features"
    )

    added = apply_catalog(env, tmp_path, '["projects_5", "export_csv", "email_support", "sso"]')
    assert added.splitlines() == ["attach feature sso: to product basic", "catalog: 1 change(s)"]
    wait_for(lambda: "sso" in entitlements_of(user.email), 30, "the summary event to add sso")

    sandbox.sandbox.configure_delivery(drop=True)  # the next summary is lost
    apply_catalog(env, tmp_path, '["projects_5", "export_csv", "email_support", "sso", "audit_log"]')
    assert sandbox.sandbox.wait_for_deliveries(10)
    assert "audit_log" not in entitlements_of(user.email)

    def synced() -> bool:  # sync keeps a state too close to the last event to tell; it settles in seconds
        result = run_cli(env, "sync")
        assert result.returncode == 0, result.stderr
        return "audit_log" in entitlements_of(user.email)

    wait_for(synced, 30, "sync to heal the lost summary")
    assert entitlements_of(user.email) == ["audit_log", "email_support", "export_csv", "projects_5", "sso"]
