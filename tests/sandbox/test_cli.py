"""``python -m stripe_sandbox``: options, refusals, start-up line, clean exit."""

import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.sandbox.helpers import Receiver


def run_cli(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stripe_sandbox", *args], capture_output=True, text=True, timeout=timeout
    )


def test_help_documents_every_option():
    out = run_cli("--help").stdout
    for option in ("--host", "--port", "--webhook-url", "--webhook-secret", "--plans", "--retry-delays"):
        assert option in out


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_refuses_non_loopback_hosts(host):
    result = run_cli("--host", host)
    assert result.returncode == 2 and "loopback" in result.stderr


def test_refuses_bad_plans_file(tmp_path):
    bad = tmp_path / "plans.toml"
    bad.write_text("[[plans]]\nname = 'x'\n")
    result = run_cli("--port", "0", "--plans", str(bad))
    assert result.returncode == 2 and "lookup_key" in result.stderr


def test_serves_until_sigterm(tmp_path):
    plans = tmp_path / "plans.toml"
    plans.write_text('[[plans]]\nlookup_key = "team"\nname = "Team"\namount = 4900\n')
    receiver = Receiver()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stripe_sandbox",
            "--port",
            "0",
            "--plans",
            str(plans),
            "--webhook-url",
            receiver.url,
            "--webhook-secret",
            receiver.secret,
            "--retry-delays",
            "0.1,0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = process.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            base + "/v1/prices?lookup_keys[]=team", headers={"Authorization": "Bearer sk_test_x"}
        )
        prices = json.load(urllib.request.urlopen(request))
        assert [p["id"] for p in prices["data"]] == ["price_sbx_team"]
        create = urllib.request.Request(
            base + "/_sandbox/subscriptions",
            method="POST",
            data=json.dumps({"customer_email": "cli@example.com", "price": "team"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(create).read()
        receiver.wait_for(10)
        assert receiver.types()[-1] == "checkout.session.completed"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
        receiver.stop()


def test_port_in_use_is_a_clear_error(sandbox):
    port = sandbox.url.rsplit(":", 1)[1]
    result = run_cli("--port", port)
    # werkzeug reports a busy port itself and exits with status 1.
    assert result.returncode != 0 and "in use" in result.stderr
