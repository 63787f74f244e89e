"""``portal-service api-key create|list|revoke``, and what a key it made can do."""

from __future__ import annotations

import json

import pytest

from shared.infra.models import ApiKey
from tests.api_helpers import bearer
from tests.ops_helpers import cli


def create(app, *args: str) -> dict:
    result = cli(app, "api-key", "create", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_prints_the_key_once_and_stores_only_its_hash(app):
    made = create(app, "--name", "host app", "--scope", "write")
    assert set(made) == {"id", "name", "scope", "key"}
    assert (made["name"], made["scope"]) == ("host app", "write")
    assert made["key"].startswith("psk_") and len(made["key"]) == 63
    row = ApiKey.get_by_id(made["id"])
    assert made["key"] not in json.dumps(list(ApiKey.select().dicts()), default=str)
    assert made["key"][4:20] == row.lookup  # the lookup part alone is kept in clear
    listing = cli(app, "api-key", "list").stdout
    assert "host app" in listing and made["key"] not in listing and "last used never" in listing


def test_plain_create_says_it_will_not_be_shown_again_and_defaults_to_read(app):
    result = cli(app, "api-key", "create", "--name", "dashboards")
    lines = result.stdout.splitlines()
    assert "(read)" in lines[0] and "not shown again" in lines[0]
    assert lines[1].startswith("psk_")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", ""], "printable characters"),
        (["--name", "x" * 101], "printable characters"),
        (["--name", "bell\x07"], "printable characters"),
        (["--name", "ok", "--scope", "admin"], "'admin' is not one of"),
        ([], "Missing option '--name'"),
    ],
)
def test_create_refuses_bad_input_and_creates_nothing(app, args, message):
    result = app.test_cli_runner().invoke(args=["api-key", "create", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert ApiKey.select().count() == 0


def test_revoke_takes_effect_on_the_next_request_and_is_listed(app, client):
    made = create(app, "--name", "old")
    assert client.get("/api/v1/customers/x/access", headers=bearer(made["key"])).status_code == 404
    result = cli(app, "api-key", "revoke", str(made["id"]))
    assert result.stdout.startswith(f"revoked {made['id']}\told\tread\t")
    assert client.get("/api/v1/customers/x/access", headers=bearer(made["key"])).status_code == 401
    assert "revoked 20" in cli(app, "api-key", "list").stdout


def test_revoking_an_unknown_key_fails_clearly(app):
    result = app.test_cli_runner().invoke(args=["api-key", "revoke", "999"])
    assert result.exit_code == 1 and "no API key with id 999" in result.output
