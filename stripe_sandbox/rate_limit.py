"""Stripe's rate limit, simulated: API requests above N per second get 429.

Stripe counts requests per account in a rolling window and answers the
excess with HTTP 429 (``rate_limit``). Off unless configured
(``--rate-limit N`` or ``POST /_sandbox/rate_limit``), so tests and the
benchmark can check that the service stays under it and backs off when not.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_SECONDS = 1.0


class RateLimit:
    def __init__(self) -> None:
        self.per_second: float | None = None
        self.requests = 0  # every API request counted, allowed or not
        self.throttled = 0
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def configure(self, per_second: float | None) -> None:
        if per_second is not None and (isinstance(per_second, bool) or not per_second > 0):
            raise ValueError("per_second must be a number above 0, or null for no limit")
        with self._lock:
            self.per_second = per_second
            self._recent.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.throttled = 0

    def allow(self, now: float | None = None) -> bool:
        """Count one request; False when it is over the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.requests += 1
            if self.per_second is None:
                return True
            while self._recent and self._recent[0] <= now - WINDOW_SECONDS:
                self._recent.popleft()
            if len(self._recent) >= self.per_second * WINDOW_SECONDS:
                self.throttled += 1
                return False
            self._recent.append(now)
            return True

    def state(self) -> dict:
        with self._lock:
            return {"per_second": self.per_second, "requests": self.requests, "throttled": self.throttled}
