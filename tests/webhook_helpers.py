"""Posting to the webhook endpoint as Stripe does."""

from __future__ import annotations

URL = "/api/webhooks/stripe"


def post(client, body: bytes, signature: str | None, **headers):
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(URL, data=body, headers=headers, content_type="application/json")
