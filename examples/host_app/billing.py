"""The host app's side of portal-service: provision, ask about access (cached), hand off to billing."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import jwt  # PyJWT
from flask import current_app

from examples.host_app import store

log = logging.getLogger("acme.billing")
TOKEN_SECONDS = 60  # the service accepts up to 300


class BillingUnavailable(Exception):
    """The service did not answer, and nothing is held to fall back on."""


def external_id(user) -> str:
    """The id the service knows this user by: ours, never the email (emails change)."""
    return str(user["id"])


def call(method: str, path: str, body: dict | None = None) -> dict:
    """One JSON call to /api/v1/ with the app's API key."""
    config = current_app.config
    request = urllib.request.Request(
        f"{config['BILLING_URL']}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {config['BILLING_API_KEY']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def provision(user) -> dict:
    """Create or update the user at the service (idempotent); hold the access it answers."""
    quoted = urllib.parse.quote(external_id(user), safe="")
    answer = call("PUT", f"/customers/{quoted}", {"email": user["email"]})
    store.keep_access(answer, "provisioned")
    return answer


def access_of(user) -> store.Held:
    """What the user may use: the held answer while it is fresh (notifications keep it so), else asked."""
    held = store.held_access(external_id(user))
    if held is not None and time.time() - held.updated_at < current_app.config["ACCESS_CACHE_SECONDS"]:
        return held
    try:
        _ask(user)
    except (OSError, ValueError) as exc:  # refused, timed out, an HTTP error, an answer that is not JSON
        return _fall_back(held, exc)
    fresh = store.held_access(external_id(user))
    assert fresh is not None  # just kept (or a newer notification was)
    return fresh


def _ask(user) -> None:
    quoted = urllib.parse.quote(external_id(user), safe="")
    try:
        store.keep_access(call("GET", f"/customers/{quoted}/access"), "asked")
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        provision(user)  # not known there yet (e.g. the service's database was reset)


def _fall_back(held: store.Held | None, error: Exception) -> store.Held:
    log.warning("billing service unavailable: %s", error)
    if held is None:
        raise BillingUnavailable(str(error))
    return held


def handoff_url(user, next_path: str = "/dashboard/billing") -> str:
    """Where to send the browser: the service signs the user in from this token, no password."""
    now = int(time.time())
    claims = {
        "sub": external_id(user),
        "email": user["email"],
        "aud": "portal-service",
        "iat": now,
        "exp": now + TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
        "next": next_path,
    }
    token = jwt.encode(claims, current_app.config["HANDOFF_SECRET"], algorithm="HS256")
    return f"{current_app.config['BILLING_URL']}/auth/handoff?token={token}"
