"""The example host app (examples/host_app/) in tests: its configuration, sign-in, signed notifications."""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook

from examples.host_app import create_app
from examples.host_app.store import DEMO_EMAIL, DEMO_PASSWORD
from tests.auth_helpers import csrf_token
from tests.processes import BIN, Process, _get_status
from tests.services import wait_for

HANDOFF_SECRET = "host-app-hand-off-secret-of-at-least-32-characters"
HOST_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"the example host app's test secret").decode()
NOWHERE = "http://127.0.0.1:9"  # refused at once: no service unless a test serves one


def host_config(tmp_path, **overrides) -> dict:
    return {
        "BILLING_URL": NOWHERE,
        "BILLING_API_KEY": "psk_not_a_key",
        "HANDOFF_SECRET": HANDOFF_SECRET,
        "WEBHOOK_SECRET": HOST_WEBHOOK_SECRET,
        "SECRET_KEY": "acme-notes-test-secret",
        "DATABASE": str(tmp_path / "acme-notes.db"),
        "ACCESS_CACHE_SECONDS": 3600,  # only a notification (or a test) makes the app ask again
        "TESTING": True,
        **overrides,
    }


def host_app(tmp_path, **overrides):
    return create_app(host_config(tmp_path, **overrides))


def sign_in(client, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def access_answer(external_id: str = "1", version: int = 2, has_access: bool = True, status="active") -> dict:
    """An access object as GET /api/v1/customers/<id>/access answers it."""
    subscription = {"id": "sub_1", "status": status, "price_id": "price_basic"} if status else None
    return {
        "external_id": external_id,
        "email": DEMO_EMAIL,
        "has_access": has_access,
        "stripe_customer_id": "cus_1",
        "subscription": subscription,
        "entitlements": [],
        "version": version,
    }


def notification(access: dict) -> dict:
    return {
        "type": "customer.access.updated",
        "external_id": access["external_id"],
        "version": access["version"],
        "access": access,
    }


def signed_headers(body: bytes, secret: str = HOST_WEBHOOK_SECRET, at: datetime | None = None, msg_id=None) -> dict:
    """Standard Webhooks headers for ``body``, signed by the standardwebhooks package itself."""
    at = at or datetime.now(UTC)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


def post_signed(client, payload, **signing):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/hooks/billing", data=body, headers=signed_headers(body, **signing))


MINUTES = timedelta(minutes=1)


def start_host_app(log_dir, port: int, service_url: str, api_key: str, **config):
    """The host app under gunicorn, as scripts/run starts it; (process, URL) once it answers."""
    env = dict(os.environ)
    settings = {
        **host_config(log_dir, BILLING_URL=service_url, BILLING_API_KEY=api_key, **config),
        "TESTING": False,
    }
    env.update({f"ACME_{name}": str(value) for name, value in settings.items() if name != "TESTING"})
    env.pop("GUNICORN_CMD_ARGS", None)
    args = [str(BIN / "gunicorn"), "-c", "examples/host_app/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}"]
    host = Process("host", [*args, "examples.host_app:create_app()"], env, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _get_status(url + "/login") == 200, timeout=30, what="the host app")
    return host, url
