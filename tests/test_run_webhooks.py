"""scripts/run --webhooks: which payload style the sandbox's event destination sends to the web."""

from __future__ import annotations

import pytest

from devrun.runner import parse_args, sandbox_command
from stripe_sandbox.__main__ import parse_args as sandbox_args


@pytest.mark.parametrize(
    "style, snapshot, thin",
    [("snapshot", 1, 0), ("thin", 0, 1), ("both", 1, 1)],
)
def test_the_sandbox_is_started_with_the_chosen_destinations(style, snapshot, thin):
    command = sandbox_command(parse_args(["--webhooks", style, "--port", "5001"]), "whsec_x")
    argv = command.removeprefix("sandbox: python -m stripe_sandbox ").split()
    parsed = sandbox_args(argv)  # the sandbox's own parser accepts what scripts/run passes
    url = "http://127.0.0.1:5001/api/webhooks/stripe"
    assert (parsed.webhook_url, parsed.thin_webhook_url) == ([url] * snapshot, [url] * thin)


def test_snapshot_is_the_default_and_an_unknown_style_is_refused(monkeypatch):
    monkeypatch.delenv("SANDBOX_WEBHOOKS", raising=False)
    assert parse_args([]).webhooks == "snapshot"
    with pytest.raises(SystemExit):
        parse_args(["--webhooks", "pointer"])
