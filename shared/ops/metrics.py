"""Prometheus metrics: what both processes count, and the scrape-time gauges.

Counters and histograms are incremented in-process (no I/O). Under gunicorn
the web runs several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set before
start-up, prometheus-client keeps each process's values in files there and
``exposition()`` adds them up. The queue's depth and age, the failed jobs and
the last sync's drift are read from Redis when scraped, so every process (and
a one-off ``sync`` run in another container) reports the same numbers.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from shared.infra.queue import billing_queue

# gunicorn.conf.py empties and creates the directory for the web; a one-off
# command started with the same environment (`docker compose run web ...`)
# would otherwise fail on the first metric it defines.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WEBHOOK_OUTCOMES = (
    "accepted",
    "bad_signature",
    "stale",
    "future",
    "malformed",
    "missing",
    "not_an_event",
    "unfit_event",
    "too_large",
    "timeout",
    "redis_unavailable",
)
HANDOFF_OUTCOMES = (
    "signed_in",
    "no_token",
    "malformed",
    "bad_algorithm",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "missing_claim",
    "too_long",
    "bad_claim",
    "bad_next",
    "replayed",
    "email_taken",
    "disabled",
    "redis_unavailable",
)
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")

WEBHOOKS = Counter("portal_webhooks_received_total", "Webhook deliveries by outcome.", ["outcome"])
ENQUEUE_SECONDS = Histogram(
    "portal_webhook_enqueue_seconds",
    "Time to append one verified delivery to the Redis inbox.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
EVENTS = Counter("portal_events_total", "Events taken by the worker, by type and outcome.", ["type", "outcome"])
LAG_SECONDS = Histogram(
    "portal_event_lag_seconds",
    "From the web receiving a delivery to the worker applying it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)
HANDOFFS = Counter("portal_handoff_total", "Sign-ins by hand-off from the host app, by outcome.", ["outcome"])
STRIPE_LIMITER_WAIT_SECONDS = Histogram(
    "portal_stripe_limiter_wait_seconds",
    "Time a Stripe request waited for the shared rate limiter (STRIPE_RATE_LIMIT); requests that waited only.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
ACCESS_ANSWERS = Counter(
    "portal_access_answers_total",
    "Access checks answered below Flask, by where the answer's inputs came from (memory or database).",
    ["source"],
)
STRIPE_RATE_LIMITED = Counter("portal_stripe_rate_limited_total", "429 answers from Stripe, each backed off.")
for _outcome in WEBHOOK_OUTCOMES:  # present from the start, so rate() sees the first one
    WEBHOOKS.labels(_outcome)
for _outcome in HANDOFF_OUTCOMES:
    HANDOFFS.labels(_outcome)


def count_webhook(outcome: str) -> None:
    WEBHOOKS.labels(outcome).inc()


def count_handoff(outcome: str) -> None:
    """One hand-off attempt; an outcome outside HANDOFF_OUTCOMES is a programming error."""
    if outcome not in HANDOFF_OUTCOMES:
        raise ValueError(f"unknown hand-off outcome {outcome!r}")
    HANDOFFS.labels(outcome).inc()


def count_event(result) -> None:
    """One taken event (a shared.sync.apply.Result): its outcome, and its lag when applied."""
    EVENTS.labels(result.event_type or "unknown", result.outcome).inc()
    if result.lag_seconds is not None:
        LAG_SECONDS.observe(result.lag_seconds)


def observe_limiter_wait(seconds: float) -> None:
    """A Stripe request of this process waited ``seconds`` for the limiter (shared.infra.stripe_rate)."""
    STRIPE_LIMITER_WAIT_SECONDS.observe(seconds)


def count_stripe_429() -> None:
    STRIPE_RATE_LIMITED.inc()


def may_scrape(token: str | None, authorization: str | None, remote_addr: str | None) -> bool:
    """With a token, only a matching bearer; without one, only this machine."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return remote_addr in LOOPBACK


StateReader = Callable[[redis.Redis], Iterable[GaugeMetricFamily]]


def exposition(conn: redis.Redis | None, readers: Iterable[StateReader] = ()) -> bytes:
    """The text a scrape answers: this process's (or all processes') metrics, then Redis state.

    ``readers`` add gauges of their own read from Redis (the web passes the
    inbox's backlog and the last sync's drift); metrics imports none of them.
    """
    state = CollectorRegistry()
    if conn is not None:
        state.register(RedisStateCollector(conn, (failed_jobs, *readers)))
    return generate_latest(_process_registry()) + generate_latest(state)


def _process_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


class RedisStateCollector:
    """Gauges read from Redis at scrape time; a Redis outage shows as portal_redis_up 0."""

    def __init__(self, conn: redis.Redis, readers: Iterable[StateReader]):
        self.conn = conn
        self.readers = tuple(readers)

    def collect(self):
        up = GaugeMetricFamily("portal_redis_up", "1 if Redis answered this scrape.")
        try:
            families = list(self._state())
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _state(self):
        for read in self.readers:
            yield from read(self.conn)


def failed_jobs(conn: redis.Redis) -> Iterable[GaugeMetricFamily]:
    yield gauge(
        "portal_failed_events",
        "Events whose jobs finally failed (see `failed list`).",
        billing_queue(conn).failed_job_registry.count,
    )


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family
