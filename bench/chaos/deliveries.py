"""Posting webhooks as Stripe does: signed at each attempt, retried until a 2xx.
(And writing poison straight into the inbox stream, as anyone who can write to
Redis could: the worker must contain what the web never let through.)

Stripe retries a delivery that got no 2xx (an error status, a timeout, a
refused connection) for days; here the backoff is compressed to seconds and
ends at a deadline the run sets. A poison event answered 4xx is refused for
good (the web rejected it at the door, which is allowed); an innocent event
is retried whatever the answer, since a refusal would lose it.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field

import redis

from shared.sync import inbox
from stripe_sandbox.signing import signature_header

PATH = "/api/webhooks/stripe"
TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 4.0


@dataclass
class Delivery:
    event_id: str
    body: bytes
    due: float  # seconds after the flow starts
    poison: str | None = None  # the poison shape; None for an innocent event
    via: str = "web"  # or "stream": XADDed into the inbox as anyone who can write to Redis could
    received: str | None = None  # the stream entry's ``received`` field when not the time of sending
    attempts: int = 0
    acknowledged_at: float | None = None
    refused_with: int | None = None  # a poison event's final 4xx


@dataclass
class Attempt:
    at: float  # seconds after the flow started
    seconds: float
    status: int | str  # the HTTP status, or the error's class name
    poison: bool


def post(port: int, body: bytes, headers: dict, timeout: float = TIMEOUT_SECONDS) -> int | str:
    """One POST to the webhook; the status, or the name of the error that ended it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", PATH, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__
    finally:
        conn.close()


def signed_headers(body: bytes, secret: str) -> dict:
    return {"Stripe-Signature": signature_header(body, secret), "Content-Type": "application/json"}


def xadd(conn: redis.Redis, delivery: Delivery) -> int | str:
    """Append the delivery to the inbox stream itself; 201 once Redis has it, as the web would answer."""
    fields = inbox.delivery_fields(delivery.event_id, "customer.subscription.updated", delivery.body)
    if delivery.received is not None:
        fields["received"] = delivery.received
    try:
        conn.xadd(inbox.STREAM_KEY, fields)
        return 201
    except redis.RedisError as exc:
        return type(exc).__name__


@dataclass
class Poster:
    port: int
    secret: str
    redis_url: str
    threads: int = 8
    give_up_at: float = float("inf")  # monotonic time after which nothing is retried
    attempts: list[Attempt] = field(default_factory=list)
    _queue: list = field(default_factory=list)
    _in_flight: int = 0
    _order: itertools.count = field(default_factory=itertools.count)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stopping: bool = False
    _t0: float = 0.0

    def start(self, deliveries: list[Delivery], t0: float) -> None:
        """Post each delivery at ``t0 + due`` (monotonic clock)."""
        self._t0 = t0
        with self._cond:
            for delivery in deliveries:
                heapq.heappush(self._queue, (t0 + delivery.due, next(self._order), delivery))
        for n in range(self.threads):
            threading.Thread(target=self._run, name=f"chaos-poster-{n}", daemon=True).start()

    def idle(self) -> bool:
        """Nothing waiting to be sent or retried, nothing on the wire."""
        with self._cond:
            return not self._queue and self._in_flight == 0

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _run(self) -> None:
        conn = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        while True:
            delivery = self._next()
            if delivery is None:
                return
            started = time.monotonic()
            if delivery.via == "stream":
                status = xadd(conn, delivery)
            else:
                status = post(self.port, delivery.body, signed_headers(delivery.body, self.secret))
            self._settle(delivery, status, started)

    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._stopping:
                if self._queue and self._queue[0][0] <= time.monotonic():
                    self._in_flight += 1
                    return heapq.heappop(self._queue)[2]
                wait = self._queue[0][0] - time.monotonic() if self._queue else 0.5
                self._cond.wait(min(max(wait, 0.001), 0.5))
            return None

    def _settle(self, delivery: Delivery, status: int | str, started: float) -> None:
        now = time.monotonic()
        with self._cond:
            self._in_flight -= 1
            delivery.attempts += 1
            self.attempts.append(Attempt(started - self._t0, now - started, status, delivery.poison is not None))
            if isinstance(status, int) and 200 <= status < 300:
                delivery.acknowledged_at = now - self._t0
            elif delivery.poison and isinstance(status, int) and 400 <= status < 500:
                delivery.refused_with = status
            elif now < self.give_up_at:
                backoff = min(0.25 * 2 ** (delivery.attempts - 1), MAX_BACKOFF_SECONDS)
                heapq.heappush(self._queue, (now + backoff, next(self._order), delivery))
            self._cond.notify_all()
