"""Stripe's webhook signature: ``t=<unix>,v1=<hex hmac-sha256("t.body")>``."""

import hashlib
import hmac
import time


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    # The timestamp is real time, not sandbox time: receivers compare it with
    # their own wall clock (stripe-python allows 300 s of skew).
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"
