"""Stripe-looking object ids: a prefix and a random base62 tail."""

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_TAIL_LENGTH = 24


def new_id(prefix: str, length: int = _TAIL_LENGTH) -> str:
    """A fresh id such as ``cus_Q1w2E3r4...``."""
    # One urandom call per id; the modulo bias is irrelevant for test ids.
    tail = "".join(_ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(length))
    return f"{prefix}_{tail}"


def checkout_session_id() -> str:
    # Real Checkout Session ids are long and carry a mode marker.
    return new_id("cs_test", 58)


def webhook_secret() -> str:
    return new_id("whsec", 32)


def seeded_id(prefix: str, key: str) -> str:
    """A deterministic id derived from a lookup key, stable across restarts.

    A running service configured with these ids keeps working when the
    sandbox restarts, which random ids would break.
    """
    safe = "".join(ch if ch.isalnum() else "_" for ch in key)
    return f"{prefix}_sbx_{safe}"
