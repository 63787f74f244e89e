"""Verifying Stripe's ``Stripe-Signature`` header.

Written here rather than taken from ``stripe.WebhookSignature`` because we
need several secrets (rotation), a window on both sides of now (the library
only rejects old timestamps, and only when given a tolerance), and a reason
per refusal for the response and the metrics.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from shared.infra.parsing import plain_int

SCHEME = "v1"
MAX_TIMESTAMP_DIGITS = 12  # Unix seconds need 10 until the year 2286


class SignatureError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason  # missing | malformed | bad_signature | stale | future
        self.message = message


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def parse_header(header: str | None) -> SignatureHeader:
    if not header:
        raise SignatureError("missing", "Missing Stripe-Signature header")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed", "Malformed Stripe-Signature header")
        if key == "t":
            timestamp = value
        elif key == SCHEME and value.isascii():  # hmac.compare_digest refuses other text; it could never match
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("malformed", "Malformed Stripe-Signature header: needs t= and v1=")
    seconds = plain_int(timestamp, MAX_TIMESTAMP_DIGITS)
    if seconds is None:
        raise SignatureError("malformed", "Malformed Stripe-Signature header: t= must be Unix seconds")
    return SignatureHeader(seconds, tuple(signatures))


def expected_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secrets: tuple[str, ...], tolerance: int, now: float) -> int:
    """Return the signed timestamp, or raise SignatureError saying why not."""
    parsed = parse_header(header)
    if not _matches_any(body, parsed, secrets):
        raise SignatureError("bad_signature", "No signature matches the payload")
    if now - parsed.timestamp > tolerance:
        raise SignatureError("stale", "Signature timestamp is too old")
    if parsed.timestamp - now > tolerance:
        raise SignatureError("future", "Signature timestamp is in the future")
    return parsed.timestamp


def _matches_any(body: bytes, parsed: SignatureHeader, secrets: tuple[str, ...]) -> bool:
    for secret in secrets:
        expected = expected_signature(secret, parsed.timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in parsed.signatures):
            return True
    return False
