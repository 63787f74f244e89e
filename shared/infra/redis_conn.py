"""Redis connections with explicit timeouts, so a slow Redis fails fast."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry


def as_text(value: bytes | str) -> str:
    """A reply's id or field as text: these clients answer bytes (no decode_responses)."""
    return value.decode() if isinstance(value, bytes) else value


def connect_redis(url: str, timeout: float | None = None, retries: int = 0) -> redis.Redis:
    """A client whose every command gives up after ``timeout`` seconds.

    The web passes a short timeout and no retries: it must answer 503 quickly
    so that Stripe retries, rather than hang its own worker. The worker passes
    retries: a dropped socket (a Redis restart, a failover) is reopened after
    a short, growing pause (0.2, 0.4, 0.8 s), so a blip never reaches
    its loop, which backs off on its own when Redis stays away.
    """
    backoff = ExponentialBackoff(cap=1.0, base=0.1) if retries else NoBackoff()
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(backoff, retries),
        health_check_interval=30,
    )
