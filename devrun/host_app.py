"""The example host app (examples/host_app/, Acme Notes) beside the service in ``scripts/run``.

Both sides get the same hand-off secret and notification secret; the host app gets an API key
of its own, made with the CLI on every run (the previous run's key is revoked, so keys do not pile up).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from examples.host_app.store import DEMO_EMAIL, DEMO_PASSWORD

KEY_NAME = "Acme Notes (scripts/run)"


def wire(env: dict, port: int, local: dict, var: Path) -> None:
    """Settings of both sides: the service notifies the host app, which hands users off to it."""
    env.setdefault("HANDOFF_SECRET", local["handoff_secret"])
    env.setdefault("HOST_WEBHOOK_SECRET", local["host_webhook_secret"])
    env.setdefault("HOST_WEBHOOK_URL", f"http://127.0.0.1:{port}/hooks/billing")
    env["ACME_BILLING_URL"] = env["APP_BASE_URL"]
    env["ACME_HANDOFF_SECRET"] = env["HANDOFF_SECRET"].split(",")[0]  # signs with the first, as a rotation does
    env["ACME_WEBHOOK_SECRET"] = env["HOST_WEBHOOK_SECRET"]
    env["ACME_SECRET_KEY"] = local["host_secret_key"]
    env["ACME_DATABASE"] = str(var / "acme-notes.db")


def create_api_key(env: dict, cli: str, root: Path, var: Path) -> None:
    """A write key for the host app (``ACME_BILLING_API_KEY``); the previous run's is revoked."""
    saved = var / "host-app-key.json"
    if saved.exists():
        previous = json.loads(saved.read_text())["id"]
        subprocess.run([cli, "api-key", "revoke", str(previous)], env=env, cwd=root, capture_output=True)
    created = subprocess.run(
        [cli, "api-key", "create", "--name", KEY_NAME, "--scope", "write", "--json"],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    key = json.loads(created.stdout)
    saved.write_text(json.dumps({"id": key["id"]}))
    env["ACME_BILLING_API_KEY"] = key["key"]


def procfile_line(port: int) -> str:
    # On the command line, so that they win over the service's GUNICORN_CMD_ARGS.
    return (
        f"host: gunicorn -c examples/host_app/gunicorn_conf.py --bind 127.0.0.1:{port} --workers 1 "
        "'examples.host_app:create_app()'"
    )


def banner_lines(port: int) -> str:
    return (
        f"  Example host app (Acme Notes): http://127.0.0.1:{port}/\n"
        f"  Sign in there as {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
    )
