"""Redis connections with explicit timeouts, so a slow Redis fails fast."""
from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect_redis(url: str, timeout: float | None = None, retries: int = 0) -> redis.Redis:
    """A client whose every command gives up after ``timeout`` seconds.

    The web passes a short timeout and no retries: it must answer 503 quickly
    so that Stripe retries, rather than hang its own worker.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), retries),
        health_check_interval=30,
    )
