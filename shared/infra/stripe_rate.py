"""One limit on Stripe API requests for every process of ours together, kept in Redis.

Stripe allows 100 requests a second in live mode and 25 in test mode per
account, across everything that uses the key; thin events make every change
cost a fetch, so a burst would otherwise run into 429s. Every request the
StripeClient makes (shared.infra.stripe_client) first takes a slot here: a
moving one-second window from the ``limits`` library, stored in Redis so the
web, every worker and every CLI command share it. The window is keyed by a
hash of the API key: two services on one Redis with different accounts do not
share a limit, and the key itself is never written to Redis.

Redis unreachable: the limiter fails open for a few seconds at a time, with
one warning per lapse. Stripe calls go on unlimited rather than stop (a fetch
is what a tie-break or a return from the portal needs); Stripe's own 429s are
still backed off and retried (RateLimitedHTTPClient), so nothing fails for it.

``acquire`` answers the seconds it waited; the HTTP client hands them to
/metrics (``portal_stripe_limiter_wait_seconds``, shared.ops.metrics).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

import redis
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

KEY = "portal:stripe-api"
REDIS_TIMEOUT_SECONDS = 0.5  # a slow Redis must not add more than this to a Stripe call
FAIL_OPEN_SECONDS = 5.0  # after Redis failed, calls go unlimited this long before Redis is tried again
MIN_PAUSE_SECONDS = 0.005
MAX_PAUSE_SECONDS = 1.0


class StripeRateLimiter:
    """Blocks until a request may be sent within ``per_second`` for this API key."""

    def __init__(
        self,
        redis_url: str,
        per_second: int,
        api_key: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        pool = redis.ConnectionPool.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        # The pool carries the URL (any scheme redis-py takes); limits only needs a valid one of its own.
        self.limiter = MovingWindowRateLimiter(RedisStorage("redis://", connection_pool=pool))
        self.item = RateLimitItemPerSecond(per_second)
        self.key = hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self.clock, self.sleep = clock, sleep
        self.open_until = 0.0
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Take a slot, waiting for one if need be; the seconds waited."""
        waited = 0.0
        while (pause := self._pause()) is not None:
            waited += pause
            self.sleep(pause)
        self.waited_seconds += waited
        return waited

    def _pause(self) -> float | None:
        """None once a slot is taken (or Redis is out of reach); else how long to wait before trying again."""
        if time.monotonic() < self.open_until:
            return None
        try:
            if self.limiter.hit(self.item, KEY, self.key):
                return None
            reset_at = self.limiter.get_window_stats(self.item, KEY, self.key).reset_time
        except (redis.RedisError, StorageError, OSError) as exc:
            self._fail_open(exc)
            return None
        return min(max(reset_at - self.clock(), MIN_PAUSE_SECONDS), MAX_PAUSE_SECONDS)

    def _fail_open(self, exc: Exception) -> None:
        self.open_until = time.monotonic() + FAIL_OPEN_SECONDS
        log.warning(
            "Stripe rate limiter: Redis unreachable (%s: %s); Stripe calls go unlimited for %.0f s",
            type(exc).__name__,
            exc,
            FAIL_OPEN_SECONDS,
        )
