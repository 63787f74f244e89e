"""The catalog as code: the file's checks, and ``catalog diff|apply`` against the sandbox, run twice.

The commands touch no database, so they run once (SQLite settings), not on both backends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portal_service import create_app
from shared.billing.catalog_file import CatalogError, load, parse
from tests.settings_helpers import make_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "catalog.example.toml"

GROWN = """
[[features]]
lookup_key = "export_csv"
name = "Export to CSV and Excel"

[[features]]
lookup_key = "sso"
name = "Single sign-on"

[[features]]
lookup_key = "reports"
name = "Reports"

[[products]]
lookup_key = "basic"
name = "Starter"
features = ["export_csv", "reports"]

[[products.prices]]
lookup_key = "basic"
amount = 1200
currency = "usd"
interval = "month"

[[products]]
lookup_key = "team"
name = "Team"
features = ["sso"]

[[products.prices]]
lookup_key = "team_yearly"
amount = 49000
currency = "usd"
interval = "year"
"""


@pytest.fixture
def catalog_app(tmp_path, redis_url, sandbox):
    settings = make_settings(f"sqlite:///{tmp_path / 'unused.db'}", redis_url, stripe_api_base=sandbox.api_base)
    return create_app(settings, stripe_client=sandbox.stripe_client())


def run(app, *args):
    return app.test_cli_runner().invoke(args=["catalog", *args], catch_exceptions=False)


def stripe_state(sandbox) -> dict:
    """Every catalogue object the sandbox holds, to show a command changed nothing."""
    store = sandbox.sandbox.store
    with sandbox.sandbox.lock:
        return {name: repr(store.collections[name]) for name in ("products", "prices", "features", "product_features")}


def test_the_example_is_the_sandbox_catalog_so_nothing_changes(catalog_app, sandbox):
    before = stripe_state(sandbox)
    diff = run(catalog_app, "diff", str(EXAMPLE))
    assert (diff.exit_code, diff.stdout) == (0, "catalog: up to date\n")
    applied = run(catalog_app, "apply", str(EXAMPLE))
    assert (applied.exit_code, applied.stdout) == (0, "catalog: up to date\n")
    assert stripe_state(sandbox) == before


def test_apply_creates_updates_and_replaces_then_changes_nothing(catalog_app, sandbox, tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text(GROWN)
    before = stripe_state(sandbox)
    diff = run(catalog_app, "diff", str(path))
    dry = run(catalog_app, "apply", "--dry-run", str(path))
    assert stripe_state(sandbox) == before
    expected = [
        "update feature export_csv: name 'Export to CSV' -> 'Export to CSV and Excel'",
        "create feature reports: name 'Reports'",
        "update product basic: name 'Basic' -> 'Starter'",
        "create product team: name 'Team'",
        "replace price basic: 900 usd per month -> 1200 usd per month on product basic"
        " (the old price stays for its subscriptions)",
        "create price team_yearly: 49000 usd per year on product team",
        "attach feature reports: to product basic",
        "attach feature sso: to product team",
    ]
    assert diff.stdout.splitlines()[: len(expected)] == [f"would {line}" for line in expected]
    assert "note: feature email_support is not in the file: kept (--archive-missing archives it)" in diff.stdout
    assert diff.stdout.endswith("catalog: 8 change(s)\n") and dry.stdout.endswith("(dry run: nothing changed)\n")

    applied = run(catalog_app, "apply", str(path))
    assert applied.exit_code == 0 and applied.stdout.splitlines()[:8] == expected
    client = sandbox.stripe_client()
    (basic,) = client.v1.prices.list(params={"lookup_keys": ["basic"]}).data
    assert (basic.unit_amount, basic.product) == (1200, "prod_sbx_basic")
    assert client.v1.prices.retrieve("price_sbx_basic").active  # subscribers on the old price keep it
    team = [p for p in client.v1.products.list().data if p.metadata.to_dict().get("lookup_key") == "team"]
    keys = [a.entitlement_feature.lookup_key for a in client.v1.products.features.list(team[0].id).data]
    assert keys == ["sso"]

    after = stripe_state(sandbox)
    again = run(catalog_app, "apply", str(path))
    assert "catalog: up to date" in again.stdout and "change(s)" not in again.stdout
    assert stripe_state(sandbox) == after


def test_archive_missing_detaches_and_archives_what_the_file_drops(catalog_app, sandbox, tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text(GROWN)
    applied = run(catalog_app, "apply", "--archive-missing", str(path))
    lines = applied.stdout.splitlines()
    assert "detach feature projects_5: from product basic" in lines
    assert (
        "archive product pro" in lines
        and "archive price price_sbx_pro" in lines
        and "archive feature audit_log" in lines
    )
    client = sandbox.stripe_client()
    assert not client.v1.products.retrieve("prod_sbx_pro").active
    assert not client.v1.entitlements.features.retrieve("feat_sbx_audit_log").active
    assert "archive price price_sbx_basic (replaced or without a lookup key)" in lines
    assert client.v1.prices.retrieve("price_sbx_basic").active is False  # its terms are no longer in the file
    assert run(catalog_app, "apply", "--archive-missing", str(path)).stdout == "catalog: up to date\n"
    back = run(catalog_app, "apply", str(EXAMPLE))  # the example again: reactivated, reattached
    assert "update product pro: active False -> True" in back.stdout
    assert client.v1.products.retrieve("prod_sbx_pro").active


def test_a_catalog_change_reaches_subscribers_entitlements(catalog_app, sandbox, tmp_path):
    made = sandbox.sandbox.create_subscription("sub@example.com", "basic")
    text = EXAMPLE.read_text().replace(
        'features = ["projects_5", "export_csv", "email_support"]',
        'features = ["projects_5", "export_csv", "email_support", "sso"]',
    )
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    assert run(catalog_app, "apply", str(path)).stdout.splitlines() == [
        "attach feature sso: to product basic",
        "catalog: 1 change(s)",
    ]
    page = sandbox.stripe_client().v1.entitlements.active_entitlements.list(params={"customer": made["customer"]["id"]})
    assert "sso" in [e.lookup_key for e in page.data]


BAD = [
    ("x = 1\n", "unknown key 'x'"),
    (
        "[[products]]\nlookup_key = 'a'\nname = 'A'\nfeatures = ['nope']\n",
        "names feature 'nope', which [[features]] lacks",
    ),
    ("[[products]]\nlookup_key = 'a b'\nname = 'A'\n", "products[0].lookup_key is 'a b'"),
    (
        "[[products]]\nlookup_key = 'a'\nname = 'A'\n[[products.prices]]\nlookup_key = 'p'\namount = -1\n",
        "amount must be",
    ),
    (
        "[[products]]\nlookup_key = 'a'\nname = 'A'\n[[products.prices]]\nlookup_key = 'p'\namount = true\n",
        "amount must be",
    ),
    (
        "[[products]]\nlookup_key = 'a'\nname = 'A'\n"
        "[[products.prices]]\nlookup_key = 'p'\namount = 1\ninterval = 'fortnight'\n",
        "interval must be one of",
    ),
    (
        "[[products]]\nlookup_key = 'a'\nname = 'A'\n[[products]]\nlookup_key = 'a'\nname = 'B'\n",
        "product lookup key 'a' is declared twice",
    ),
    ("[[products]]\nlookup_key = 'a'\nname = \"A\\u0000\"\n", "products[0].name"),
    ("[[products]]\nlookup_key = 'a'\nname = 'A'\nprices = 'x'\n", "prices must be a list of tables"),
    ("products = 3\n", "products must be a list of tables"),
    ("[[features]]\nlookup_key = 'f'\nname = 'F'\n", "declares no [[products]]"),
    ("not toml [", "not TOML"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_files_fail_clearly_and_change_nothing(catalog_app, sandbox, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = stripe_state(sandbox)
    for command in ("diff", "apply"):
        result = catalog_app.test_cli_runner().invoke(args=["catalog", command, str(path)])
        assert result.exit_code == 1 and message in result.output, (command, result.output)
    assert stripe_state(sandbox) == before


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CatalogError, match=r"none\.toml"):
        load(tmp_path / "none.toml")


def test_parse_reads_the_example():
    catalog = load(EXAMPLE)
    assert [p.lookup_key for p in catalog.products] == ["basic", "pro"]
    assert len(catalog.products[1].features) > 10
    assert parse({"products": [{"lookup_key": "a", "name": "A"}]}).products[0].prices == ()


def test_two_products_claiming_one_lookup_key_stop_the_command_before_any_change(catalog_app, sandbox):
    client = sandbox.stripe_client()
    client.v1.products.create(params={"name": "Pro copy", "metadata": {"lookup_key": "pro"}})
    before = stripe_state(sandbox)
    for command in ("diff", "apply"):
        result = catalog_app.test_cli_runner().invoke(args=["catalog", command, str(EXAMPLE)])
        assert result.exit_code == 1 and "both carry metadata.lookup_key 'pro'" in result.output
    assert stripe_state(sandbox) == before
