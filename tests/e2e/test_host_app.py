"""End to end, as a host app uses the service: real gunicorn, the real CLI, HTTP only.

A key made with ``portal-service api-key create``, a user provisioned with
PUT, signed in by hand-off, asked about; the key revoked with the CLI, and a
key of another deployment refused.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import uuid

import jwt
import pytest

from tests.processes import run_cli, service_env, start_web
from tests.settings_helpers import make_settings

HANDOFF_SECRET = "host-app-hand-off-secret-of-at-least-32-characters"


def request(url: str, method: str, path: str, body=None, headers=None):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


def create_key(env: dict, scope: str = "write") -> str:
    result = run_cli(env, "api-key", "create", "--name", "host app", "--scope", scope, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["key"]


@pytest.fixture
def host_env(db_url, redis_url, redis_conn):
    settings = make_settings(db_url, redis_url)
    env = service_env(settings, HANDOFF_SECRET=HANDOFF_SECRET, AUTH_MODES="local,handoff")
    assert run_cli(env, "db", "upgrade").returncode == 0
    return env


def test_a_host_app_provisions_signs_in_and_asks_then_a_revoked_key_is_refused(host_env, tmp_path):
    key = create_key(host_env)
    auth = {"Authorization": f"Bearer {key}"}
    web, url = start_web(host_env, tmp_path)
    try:
        status, _, body = request(url, "PUT", "/api/v1/customers/host-42", {"email": "ada@example.com"}, auth)
        assert status == 201 and json.loads(body)["version"] == 1
        status, headers, body = request(url, "GET", "/api/v1/customers/host-42/access", headers=auth)
        assert (status, json.loads(body)["has_access"]) == (200, False)
        assert headers["Cache-Control"] == "no-store" and "Set-Cookie" not in headers
        now = int(time.time())
        claims = {"sub": "host-42", "email": "ada@example.com", "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex}
        token = jwt.encode({**claims, "aud": "portal-service"}, HANDOFF_SECRET, algorithm="HS256")
        status, headers, _ = request(url, "GET", f"/auth/handoff?token={token}")
        assert status == 303 and headers["Location"].endswith("/dashboard/billing")
        cookie = headers["Set-Cookie"].split(";")[0]
        status, _, page = request(url, "GET", "/dashboard/billing", headers={"Cookie": cookie, "Accept": "text/html"})
        assert status == 200 and b"ada@example.com" in page
        status, _, _ = request(url, "GET", "/api/v1/customers/host-42/access", headers={"Cookie": cookie})
        assert status == 401  # a browser session never opens the API
        revoked = run_cli(host_env, "api-key", "revoke", "1")
        assert revoked.returncode == 0, revoked.stderr
        status, _, body = request(url, "GET", "/api/v1/customers/host-42/access", headers=auth)
        assert status == 401 and "API key" in json.loads(body)["error"]
    finally:
        web.stop()


def test_a_key_of_another_deployment_is_refused(host_env, tmp_path, redis_url):
    other = service_env(make_settings(f"sqlite:///{tmp_path / 'other.db'}", redis_url))
    assert run_cli(other, "db", "upgrade").returncode == 0
    foreign = create_key(other)
    web, url = start_web(host_env, tmp_path)
    try:
        status, _, _ = request(url, "GET", "/api/v1/customers/x/access", headers={"Authorization": f"Bearer {foreign}"})
        assert status == 401
    finally:
        web.stop()
