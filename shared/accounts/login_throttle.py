"""Throttling failed sign-ins, per account (whatever the IP) and per IP.

Each failed password check is kept for WINDOW_SECONDS in a Redis sorted set
(a sliding window), one per normalised email and one per client IP. A few
failures are free; past them, the next attempt must wait a delay that doubles
with each further failure, capped at MAX_DELAY_SECONDS. Refused attempts are
not counted and do not check the password, so hammering during the delay
neither guesses nor prolongs it: an attacker can hold an account to one guess
per MAX_DELAY_SECONDS at most, and its owner is never kept out longer than
that after the attacker's last counted failure. A successful sign-in clears
the account's failures.

Registrations are counted per IP the same way, successful or not: each one
costs an Argon2id hash, and "already registered" answers would otherwise let
one address enumerate accounts or fill the user table without limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from dataclasses import dataclass

import redis

from shared.accounts.users import normalize_email

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60 * 60
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 5 * 60


@dataclass(frozen=True)
class Limit:
    free_failures: int


ACCOUNT = Limit(free_failures=5)
ADDRESS = Limit(free_failures=20)  # many accounts from one address: credential stuffing
REGISTRATIONS = Limit(free_failures=10)  # per IP; a family or an office behind one address still fits


def delay_after(failures: int, free: int) -> int:
    """Seconds the next attempt waits after ``failures`` failures in the window."""
    if failures < free:
        return 0
    return min(BASE_DELAY_SECONDS * 2 ** (failures - free), MAX_DELAY_SECONDS)


class LoginThrottle:
    def __init__(self, conn: redis.Redis, clock=time.time):
        self.conn = conn
        self.clock = clock

    def retry_after(self, email: str, ip: str | None) -> int:
        """Seconds before this email may try again from this IP; 0 when it may now.

        Redis being unavailable lets the attempt through (logged): sign-in stays
        possible, and the password check is still Argon2id-slow.
        """
        try:
            return max(self._wait(key, limit) for key, limit in self._keys(email, ip))
        except redis.RedisError as exc:
            log.warning("login throttle unavailable (%s): attempt not throttled", type(exc).__name__)
            return 0

    def record_failure(self, email: str, ip: str | None) -> None:
        self._record([key for key, _ in self._keys(email, ip)])

    def registration_retry_after(self, ip: str | None) -> int:
        """Seconds before this IP may register again; 0 when it may now (or Redis is down)."""
        if not ip:
            return 0
        try:
            return self._wait(self._registration_key(ip), REGISTRATIONS)
        except redis.RedisError as exc:
            log.warning("login throttle unavailable (%s): registration not throttled", type(exc).__name__)
            return 0

    def record_registration(self, ip: str | None) -> None:
        if ip:
            self._record([self._registration_key(ip)])

    def _record(self, keys: list[str]) -> None:
        now = self.clock()
        try:
            pipe = self.conn.pipeline()
            for key in keys:
                pipe.zadd(key, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
                pipe.zremrangebyscore(key, "-inf", now - WINDOW_SECONDS)
                pipe.expire(key, WINDOW_SECONDS)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("login throttle unavailable (%s): attempt not recorded", type(exc).__name__)

    def record_success(self, email: str) -> None:
        try:
            self.conn.delete(self._account_key(email))
        except redis.RedisError as exc:
            log.warning("login throttle unavailable (%s): failures not cleared", type(exc).__name__)

    def _wait(self, key: str, limit: Limit) -> int:
        now = self.clock()
        pipe = self.conn.pipeline()
        pipe.zremrangebyscore(key, "-inf", now - WINDOW_SECONDS)
        pipe.zcard(key)
        pipe.zrange(key, -1, -1, withscores=True)
        _, failures, last = pipe.execute()
        delay = delay_after(failures, limit.free_failures)
        if not delay or not last:
            return 0
        return max(0, math.ceil(last[0][1] + delay - now))

    def _keys(self, email: str, ip: str | None) -> list[tuple[str, Limit]]:
        keys = [(self._account_key(email), ACCOUNT)]
        if ip:
            keys.append((f"portal:login:fail:ip:{ip}", ADDRESS))
        return keys

    @staticmethod
    def _registration_key(ip: str) -> str:
        return f"portal:register:ip:{ip}"

    @staticmethod
    def _account_key(email: str) -> str:
        digest = hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]
        return f"portal:login:fail:account:{digest}"


def wait_words(seconds: int) -> str:
    """'30 seconds', '2 minutes'."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"
