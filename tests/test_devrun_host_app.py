"""scripts/run's wiring of the example host app (devrun/host_app.py): secrets on both sides, its API key."""

from __future__ import annotations

from devrun import host_app
from shared.infra import migrations
from shared.infra.db import database, init_database
from shared.infra.models import ApiKey
from tests.processes import BIN, ROOT, service_env
from tests.settings_helpers import make_settings

LOCAL = {"handoff_secret": "made-handoff", "host_webhook_secret": "whsec_bWFkZQ==", "host_secret_key": "made-key"}


def test_both_sides_get_the_same_secrets_and_the_service_notifies_the_host_app(tmp_path):
    env = {"APP_BASE_URL": "http://127.0.0.1:5000"}
    host_app.wire(env, 5001, LOCAL, tmp_path)
    assert env["HOST_WEBHOOK_URL"] == "http://127.0.0.1:5001/hooks/billing"
    assert (env["HANDOFF_SECRET"], env["ACME_HANDOFF_SECRET"]) == ("made-handoff", "made-handoff")
    assert (env["HOST_WEBHOOK_SECRET"], env["ACME_WEBHOOK_SECRET"]) == ("whsec_bWFkZQ==", "whsec_bWFkZQ==")
    assert env["ACME_BILLING_URL"] == "http://127.0.0.1:5000" and env["ACME_SECRET_KEY"] == "made-key"


def test_secrets_set_in_the_environment_win_and_the_host_app_signs_with_the_first(tmp_path):
    env = {"APP_BASE_URL": "http://x", "HANDOFF_SECRET": "new-one,old-one", "HOST_WEBHOOK_SECRET": "whsec_b3du"}
    host_app.wire(env, 5001, LOCAL, tmp_path)
    assert (env["ACME_HANDOFF_SECRET"], env["ACME_WEBHOOK_SECRET"]) == ("new-one", "whsec_b3du")


def test_each_run_makes_a_write_key_and_revokes_the_previous_runs(tmp_path, redis_url):
    db_url = f"sqlite:///{tmp_path / 'portal.db'}"
    env = service_env(make_settings(db_url, redis_url))
    init_database(db_url)
    with database.connection_context():
        migrations.upgrade()
    cli = str(BIN / "portal-service")
    host_app.create_api_key(env, cli, ROOT, tmp_path)
    first = env["ACME_BILLING_API_KEY"]
    host_app.create_api_key(env, cli, ROOT, tmp_path)
    assert env["ACME_BILLING_API_KEY"] != first
    with database.connection_context():
        keys = [(key.name, key.scope, key.revoked_at is None) for key in ApiKey.select().order_by(ApiKey.id)]
    assert keys == [(host_app.KEY_NAME, "write", False), (host_app.KEY_NAME, "write", True)]  # (active?)
