"""Whole numbers from request text (headers, query strings), read strictly.

``str.isdigit()`` accepts superscripts and other Unicode digits that ``int()``
then refuses, and ``int()`` refuses more than 4,300 digits: both raised past
the checks that used them and answered 500. Here only ASCII digits pass, and
no more of them than the caller can use.
"""

from __future__ import annotations

import math


def plain_int(text: str | None, max_digits: int) -> int | None:
    """The number ``text`` spells in at most ``max_digits`` ASCII digits, else None."""
    if not text or not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= max_digits else None


def finite_number(stored: bytes | str | None) -> float | None:
    """A number read back from Redis, else None: anyone who can write to Redis may have left text there."""
    if isinstance(stored, bytes):
        stored = stored.decode("ascii", "replace")
    try:
        number = float(stored) if stored is not None and len(stored) <= 64 else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
