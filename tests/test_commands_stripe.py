"""Commands that talk to Stripe (the offline sandbox), against real Redis and databases:
sync and events replay after deliberately dropped webhooks, and portal-config."""

from __future__ import annotations

from pathlib import Path

from shared.accounts.users import create_user
from shared.infra import stored_settings
from shared.infra.models import Setting, Subscription, User
from shared.sync import inbox, reconcile
from tests.ops_helpers import cli, clock_past_margin, snapshot_db, snapshot_redis
from tests.settings_helpers import TEST_PASSWORDS
from tests.worker_helpers import drain


def subscribe(sandbox, email: str, price: str = "basic") -> dict:
    create_user(email, "correct horse battery", TEST_PASSWORDS)
    return sandbox.sandbox.create_subscription(email, price)


def settle(sandbox, settings, redis_conn) -> None:
    """Every webhook sent (or dropped) and applied by the worker."""
    assert sandbox.sandbox.wait_for_deliveries(timeout=10)
    drain(settings, redis_conn)


def latest_created(sandbox) -> int:
    return max(event["created"] for event in sandbox.sandbox.events())


def drop_webhooks(sandbox) -> None:
    sandbox.sandbox.configure_delivery(drop=True)


def test_sync_repairs_drift_left_by_dropped_webhooks(ops_app, ops_settings, sandbox, redis_conn):
    kept = subscribe(sandbox, "kept@example.com")["subscription"]["id"]
    settle(sandbox, ops_settings, redis_conn)
    assert Subscription.get_by_id(kept).status == "active"

    drop_webhooks(sandbox)
    sandbox.sandbox.fail_payment(kept)  # past_due in Stripe; we never hear of it
    lost = subscribe(sandbox, "lost@example.com")["subscription"]["id"]
    settle(sandbox, ops_settings, redis_conn)
    assert Subscription.get_by_id(kept).status == "active"
    assert Subscription.get_or_none(Subscription.id == lost) is None
    clock_past_margin(ops_app, latest_created(sandbox))

    before_db, before_redis = snapshot_db(), snapshot_redis(redis_conn)
    dry = cli(ops_app, "sync", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"{lost} would be created" in dry.stdout
    assert f"{kept} would be changed: status" in dry.stdout
    assert "sync: 2 subscriptions: 1 created, 1 changed, 0 unchanged, 0 kept (dry run: nothing written)" in dry.stdout
    assert snapshot_db() == before_db and snapshot_redis(redis_conn) == before_redis

    real = cli(ops_app, "sync")
    assert "sync: 2 subscriptions: 1 created, 1 changed, 0 unchanged, 0 kept" in real.stdout
    assert Subscription.get_by_id(kept).status == "past_due"
    assert Subscription.get_by_id(lost).status == "active"

    again = cli(ops_app, "sync")
    assert "sync: 2 subscriptions: 0 created, 0 changed, 2 unchanged, 0 kept" in again.stdout
    metrics = ops_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'portal_sync_drift{kind="created"} 0.0' in metrics  # the last run found none


def test_sync_of_one_customer_touches_only_that_customer(ops_app, ops_settings, sandbox, redis_conn):
    drop_webhooks(sandbox)
    one = subscribe(sandbox, "one@example.com")
    subscribe(sandbox, "two@example.com")
    settle(sandbox, ops_settings, redis_conn)
    result = cli(ops_app, "sync", "--customer", one["customer"]["id"])
    assert "sync: 1 subscriptions: 1 created" in result.stdout
    assert [row.id for row in Subscription.select()] == [one["subscription"]["id"]]


def test_sync_reports_rows_stripe_does_not_know_and_leaves_them(ops_app, ops_settings, sandbox, redis_conn):
    from tests.stripe_fixtures import event, subscription
    from tests.worker_helpers import push

    stranger = subscription(customer="cus_OTHER_ACCOUNT")
    push(redis_conn, event("customer.subscription.created", stranger, created=1_700_000_000))
    drain(ops_settings, redis_conn)
    before = snapshot_db()
    result = cli(ops_app, "sync")
    assert f"{stranger['id']} is in the database but not in Stripe: left as it is" in result.stdout
    assert result.stdout.strip().endswith("0 kept; 1 not in Stripe")
    assert snapshot_db() == before


def test_sync_keeps_a_row_that_an_event_changed_after_the_fetch_could_see_it(
    ops_app, ops_settings, sandbox, redis_conn
):
    """Within the clock margin of an applied event, a fetch cannot prove it is newer: kept."""
    sub_id = subscribe(sandbox, "fresh@example.com")["subscription"]["id"]
    settle(sandbox, ops_settings, redis_conn)
    before = snapshot_db()
    result = cli(ops_app, "sync")
    assert "0 created, 0 changed, 0 unchanged, 1 kept" in result.stdout
    assert snapshot_db() == before
    assert Subscription.get_by_id(sub_id).status == "active"


def test_sync_when_stripe_is_unreachable_fails_clearly_and_changes_nothing(ops_app, sandbox, redis_conn):
    before_db, before_redis = snapshot_db(), snapshot_redis(redis_conn)
    sandbox.stop()
    result = ops_app.test_cli_runner().invoke(args=["sync"])
    assert result.exit_code == 1
    assert "Error: Stripe:" in result.output
    assert snapshot_db() == before_db and snapshot_redis(redis_conn) == before_redis


def test_sync_cut_off_by_stripe_part_way_says_what_it_had_written(
    ops_app, ops_settings, sandbox, redis_conn, monkeypatch
):
    drop_webhooks(sandbox)
    for n in range(3):
        subscribe(sandbox, f"part{n}@example.com")
    settle(sandbox, ops_settings, redis_conn)
    clock_past_margin(ops_app, latest_created(sandbox))
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 1)  # one subscription per request to Stripe
    store_one = reconcile.reconcile

    def reconcile_then_stripe_goes_away(*args, **kwargs):
        result = store_one(*args, **kwargs)
        sandbox.stop()
        return result

    monkeypatch.setattr(reconcile, "reconcile", reconcile_then_stripe_goes_away)
    result = ops_app.test_cli_runner().invoke(args=["sync"])
    assert result.exit_code == 1
    assert "Error: Stripe:" in result.output
    assert (
        "Stopped part way. sync: 1 subscriptions: 1 created, 0 changed, 0 unchanged, 0 kept. "
        "Those rows are written; run sync again to finish."
    ) in result.output
    assert Subscription.select().count() == 1


def test_events_replay_enqueues_only_what_the_ledger_lacks(ops_app, ops_settings, sandbox, redis_conn):
    subscribe(sandbox, "first@example.com")
    settle(sandbox, ops_settings, redis_conn)
    drop_webhooks(sandbox)
    lost = subscribe(sandbox, "lost@example.com")
    settle(sandbox, ops_settings, redis_conn)
    user = User.get(User.email == "lost@example.com")
    assert user.stripe_customer_id is None

    before_db, before_redis = snapshot_db(), snapshot_redis(redis_conn)
    dry = cli(ops_app, "events", "replay", "--since", "1h", "--undelivered-only", "--dry-run")
    assert dry.exit_code == 0, dry.output
    lines = [line for line in dry.stdout.splitlines() if line.startswith("would enqueue")]
    assert {
        "customer.subscription.created",
        "customer.subscription.updated",
        "checkout.session.completed",
        "invoice.paid",
    } <= {line.split()[3] for line in lines}
    assert all(line.split()[2] in lost["events"] for line in lines)
    assert snapshot_db() == before_db and snapshot_redis(redis_conn) == before_redis

    real = cli(ops_app, "events", "replay", "--since", "1h", "--undelivered-only")
    assert f"{len(lines)} enqueued" in real.stdout
    assert inbox.depth(redis_conn) == len(lines)
    drain(ops_settings, redis_conn)
    assert User.get_by_id(user.id).stripe_customer_id == lost["customer"]["id"]
    assert Subscription.get_by_id(lost["subscription"]["id"]).status == "active"

    again = cli(ops_app, "events", "replay", "--since", "1h")
    assert again.stdout.strip().endswith("0 enqueued")
    assert inbox.depth(redis_conn) == 0


def test_events_replay_warns_that_stripe_keeps_30_days(ops_app, redis_conn):
    result = cli(ops_app, "events", "replay", "--since", "45d", "--dry-run")
    assert "warning: Stripe keeps events for 30 days" in result.output
    assert result.stdout.strip().endswith("0 would be enqueued")


def test_events_replay_refuses_a_bad_since_and_changes_nothing(ops_app, redis_conn):
    before = snapshot_redis(redis_conn)
    result = ops_app.test_cli_runner().invoke(args=["events", "replay", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "'yesterday' is neither a relative time" in result.output
    assert snapshot_redis(redis_conn) == before


PORTAL_TOML = """
default_return_url = "https://example.com/account"

[business_profile]
headline = "Example Co. billing"

[features.invoice_history]
enabled = true

[features.payment_method_update]
enabled = true

[features.customer_update]
enabled = true
allowed_updates = ["email", "address"]

[features.subscription_cancel]
enabled = true
mode = "at_period_end"

[features.subscription_cancel.cancellation_reason]
enabled = true
options = ["too_expensive", "missing_features", "other"]

[features.subscription_update]
enabled = true
default_allowed_updates = ["price"]
proration_behavior = "create_prorations"

[[features.subscription_update.products]]
product = "prod_sbx_basic"
prices = ["price_sbx_basic"]

[[features.subscription_update.products]]
product = "prod_sbx_pro"
prices = ["price_sbx_pro"]
"""

PORTAL_YAML_CHANGED = """
default_return_url: https://example.com/account
business_profile:
  headline: Example Co. billing
features:
  invoice_history: {enabled: true}
  payment_method_update: {enabled: true}
  customer_update: {enabled: true, allowed_updates: [email, address]}
  subscription_cancel:
    enabled: true
    mode: immediately
    cancellation_reason: {enabled: true, options: [too_expensive, missing_features, other]}
  subscription_update:
    enabled: true
    default_allowed_updates: [price]
    proration_behavior: create_prorations
    products:
      - {product: prod_sbx_basic, prices: [price_sbx_basic]}
      - {product: prod_sbx_pro, prices: [price_sbx_pro]}
"""


def configurations(sandbox) -> dict:
    """Every portal configuration the sandbox holds, as plain data."""
    import copy

    with sandbox.sandbox.lock:
        return copy.deepcopy(dict(sandbox.sandbox.store.collections["portal_configurations"]))


def test_portal_config_diff_apply_and_update(ops_app, sandbox, tmp_path, redis_conn):
    toml_file = tmp_path / "portal.toml"
    toml_file.write_text(PORTAL_TOML)
    before_configs, before_db = configurations(sandbox), snapshot_db()

    diff = cli(ops_app, "portal-config", "diff", str(toml_file))
    assert diff.exit_code == 0, diff.output
    assert "configuration: none yet (would be created)" in diff.stdout
    assert '+ features.subscription_cancel.mode: "at_period_end"' in diff.stdout
    assert configurations(sandbox) == before_configs and snapshot_db() == before_db

    dry = cli(ops_app, "portal-config", "apply", "--dry-run", str(toml_file))
    assert "(dry run: nothing sent)" in dry.stdout
    assert configurations(sandbox) == before_configs and snapshot_db() == before_db

    applied = cli(ops_app, "portal-config", "apply", str(toml_file))
    assert applied.exit_code == 0, applied.output
    configuration_id = stored_settings.get(stored_settings.PORTAL_CONFIGURATION)
    assert configuration_id and f"created {configuration_id}" in applied.stdout
    stored = sandbox.stripe_client().v1.billing_portal.configurations.retrieve(configuration_id)
    assert stored.features.subscription_cancel.mode == "at_period_end"
    assert stored.features.subscription_cancel.cancellation_reason.options == [
        "too_expensive",
        "missing_features",
        "other",
    ]
    assert stored.business_profile.headline == "Example Co. billing"

    assert cli(ops_app, "portal-config", "diff", str(toml_file)).stdout.strip().endswith("0 change(s)")
    assert "up to date" in cli(ops_app, "portal-config", "apply", str(toml_file)).stdout

    yaml_file = tmp_path / "portal.yaml"
    yaml_file.write_text(PORTAL_YAML_CHANGED)
    diff = cli(ops_app, "portal-config", "diff", str(yaml_file))
    assert diff.stdout.splitlines()[1:] == [
        '~ features.subscription_cancel.mode: "at_period_end" -> "immediately"',
        "1 change(s)",
    ]
    updated = cli(ops_app, "portal-config", "apply", str(yaml_file))
    assert f"updated {configuration_id}" in updated.stdout
    assert (
        sandbox.stripe_client()
        .v1.billing_portal.configurations.retrieve(configuration_id)
        .features.subscription_cancel.mode
        == "immediately"
    )
    assert Setting.select().count() == 1


def test_portal_configuration_id_from_the_environment_wins(ops_settings, db):
    import dataclasses

    stored_settings.put(stored_settings.PORTAL_CONFIGURATION, "bpc_recorded")
    assert stored_settings.portal_configuration_id(ops_settings) == "bpc_recorded"
    pinned = dataclasses.replace(ops_settings, portal_configuration_id="bpc_pinned")
    assert stored_settings.portal_configuration_id(pinned) == "bpc_pinned"


BAD_FILES = [
    ("portal.toml", 'features = {}\nheadline = "x"\n', "headline: unknown setting"),
    (
        "portal.toml",
        '[features.subscription_cancel]\nmode = "later"\n',
        "features.subscription_cancel.mode: 'later' is not one of at_period_end, immediately",
    ),
    (
        "portal.toml",
        '[features.invoice_history]\nenabled = "yes"\n',
        "features.invoice_history.enabled: expected true or false",
    ),
    ("portal.toml", 'default_return_url = "ftp://x"\n[features]\n', "default_return_url: expected an http(s) URL"),
    ("portal.toml", '[business_profile]\nheadline = "x"\n', "features: required"),
    ("portal.toml", "[features\n", "is not valid TOML"),
    ("portal.yaml", "features: [unclosed\n", "is not valid YAML"),
    ("portal.yaml", "- just\n- a list\n", "the file must hold a table of settings"),
    ("portal.json", "{}", "use a .toml, .yaml or .yml file"),
]


def test_portal_config_bad_files_fail_clearly_and_change_nothing(ops_app, sandbox, tmp_path, redis_conn):
    before_configs, before_db = configurations(sandbox), snapshot_db()
    for name, text, message in BAD_FILES:
        path = tmp_path / name
        path.write_text(text)
        for command in ("diff", "apply"):
            result = ops_app.test_cli_runner().invoke(args=["portal-config", command, str(path)])
            assert result.exit_code == 1, (name, text, result.output)
            assert message in result.output, (message, result.output)
    missing = ops_app.test_cli_runner().invoke(args=["portal-config", "apply", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "cannot read" in missing.output
    assert configurations(sandbox) == before_configs and snapshot_db() == before_db


def test_the_documented_example_file_applies(ops_app, sandbox, redis_conn):
    """docs/portal.example.toml, which the README points at, is a valid configuration."""
    example = Path(__file__).resolve().parent.parent / "docs" / "portal.example.toml"
    applied = cli(ops_app, "portal-config", "apply", str(example))
    assert applied.exit_code == 0, applied.output
    configuration_id = stored_settings.get(stored_settings.PORTAL_CONFIGURATION)
    stored = sandbox.stripe_client().v1.billing_portal.configurations.retrieve(configuration_id)
    assert stored.features.subscription_update.products[1].prices == ["price_sbx_pro"]


def test_sync_heals_a_missed_entitlement_summary(ops_app, ops_settings, sandbox, redis_conn):
    from shared.billing.entitlements import entitlements_by_customer

    customer = subscribe(sandbox, "ent@example.com")["customer"]["id"]
    settle(sandbox, ops_settings, redis_conn)
    assert entitlements_by_customer([customer])[customer] == ["email_support", "export_csv", "projects_5"]
    drop_webhooks(sandbox)
    client = sandbox.stripe_client()
    client.v1.products.features.create("prod_sbx_basic", params={"entitlement_feature": "feat_sbx_sso"})
    settle(sandbox, ops_settings, redis_conn)
    clock_past_margin(ops_app, latest_created(sandbox))

    before = snapshot_db()
    dry = cli(ops_app, "sync", "--dry-run")
    assert f"{customer} entitlements would be changed" in dry.stdout
    assert "sync: entitlements of 1 customers: 1 changed, 0 unchanged, 0 kept (dry run: nothing written)" in dry.stdout
    assert snapshot_db() == before and "sso" not in entitlements_by_customer([customer])[customer]
    real = cli(ops_app, "sync")
    assert "sync: entitlements of 1 customers: 1 changed, 0 unchanged, 0 kept" in real.stdout
    assert entitlements_by_customer([customer])[customer] == ["email_support", "export_csv", "projects_5", "sso"]
    again = cli(ops_app, "sync")
    assert "sync: entitlements of 1 customers: 0 changed, 1 unchanged, 0 kept" in again.stdout
