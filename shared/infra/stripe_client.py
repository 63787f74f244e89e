"""The one StripeClient, built from settings, and the HTTP client every one of its requests goes through.

``STRIPE_API_BASE`` points it at the offline sandbox in development and tests;
unset, it talks to Stripe. The API version is the one stripe-python pins.

Every request, from any call site (worker fetches, ``sync``, ``events
replay``, the return from Checkout or the portal), is sent by
RateLimitedHTTPClient: it first takes a slot from the shared limiter
(shared.infra.stripe_rate), and a 429 from Stripe is waited out and sent
again rather than raised, so the event that needed it does not fail. Both
are reported to the process's metrics (``on_wait``, ``on_429``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import stripe

from shared.infra.parsing import finite_number
from shared.infra.settings import Settings
from shared.infra.stripe_rate import StripeRateLimiter

API_VERSION = stripe.api_version  # pinned by stripe-python 16: "2026-10-28.endive"
MAX_429_RETRIES = 8  # with the backoff below: about 40 s of waiting before the 429 is raised
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0

log = logging.getLogger(__name__)
Response = tuple[Any, int, Mapping[str, str]]  # body, status, headers: what stripe-python's HTTP clients answer
Waited = Callable[[float], None]  # told the seconds a request waited for the limiter
RateLimited = Callable[[], None]  # told of each 429 from Stripe


def _ignore(*_args) -> None:
    pass


def build_stripe_client(
    settings: Settings, on_wait: Waited = _ignore, on_429: RateLimited = _ignore
) -> stripe.StripeClient:
    """``on_wait`` and ``on_429`` are the process's metrics (shared.ops.metrics; infra does not import it)."""
    limiter = StripeRateLimiter(settings.redis_url, settings.stripe_requests_per_second, settings.stripe_secret_key)
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else {},
        max_network_retries=2,
        http_client=RateLimitedHTTPClient(limiter, on_wait=on_wait, on_429=on_429),
    )


class RateLimitedHTTPClient(stripe.HTTPClient):
    """stripe-python's default HTTP client, behind the shared limiter and a 429 backoff."""

    name = "rate-limited"

    def __init__(
        self,
        limiter,
        inner: stripe.HTTPClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Waited = _ignore,
        on_429: RateLimited = _ignore,
    ):
        super().__init__()
        self.limiter = limiter
        self.inner = inner or stripe.new_default_http_client()
        self.sleep = sleep
        self.on_wait, self.on_429 = on_wait, on_429
        self.rate_limited = 0  # 429s answered by Stripe

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *, _usage=None
    ) -> Response:
        return self._send(self.inner.request, method, url, headers, post_data)

    def request_stream(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *, _usage=None
    ) -> Response:
        return self._send(self.inner.request_stream, method, url, headers, post_data)

    def _send(self, send, method, url, headers, post_data) -> Response:
        for attempt in range(MAX_429_RETRIES + 1):
            waited = self.limiter.acquire()
            if waited:
                self.on_wait(waited)
            response = send(method, url, headers, post_data)
            if response[1] != 429:
                return response
            self.rate_limited += 1
            self.on_429()
            if attempt == MAX_429_RETRIES:
                return response
            pause = backoff_seconds(attempt, response[2])
            log.warning("Stripe answered 429 to %s %s; retrying in %.2f s", method, url.split("?")[0], pause)
            self.sleep(pause)
        raise AssertionError("unreachable")  # the loop returns on its last attempt

    def close(self):
        self.inner.close()


def backoff_seconds(attempt: int, headers: Mapping[str, str] | None) -> float:
    """Stripe's Retry-After if it sent one (capped), else a doubling pause with jitter."""
    retry_after = finite_number((headers or {}).get("Retry-After"))
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, MAX_BACKOFF_SECONDS)
    pause = min(FIRST_BACKOFF_SECONDS * 2**attempt, MAX_BACKOFF_SECONDS)
    return pause * random.uniform(0.5, 1.0)
