"""The webhook inbox: a Redis stream between the web process and the workers.

The web appends each verified delivery with one XADD (one round trip, no job
bookkeeping), so answering Stripe stays cheap. Workers read it through a
consumer group in batches; an entry stays pending until the batch that holds
it is committed, so a killed worker's entries are claimed by another.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from prometheus_client.core import GaugeMetricFamily

from shared.infra.redis_conn import as_text
from shared.sync.event_shape import LATEST_TIME, shown, storable_id

STREAM_KEY = "portal:webhooks"
GROUP = "appliers"


@dataclass(frozen=True)
class Envelope:
    """One delivery of one event, as the web received it."""

    event_id: str
    body: str
    received_at: float
    delivery_id: str = ""  # the stream entry id; distinguishes redeliveries
    problem: str = ""  # why the stream entry cannot be a delivery; the applier records it failed

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict) -> Envelope:
        """The delivery in a stream entry. Never raises: anyone who can write to
        Redis can add an entry, and one the worker cannot read (fields missing,
        not UTF-8, ``received`` not a time) must fail alone, not strand its batch."""
        fields = fields if isinstance(fields, dict) else {}
        problems: list[str] = []
        event_id = _field(fields, b"id", problems)
        body = _field(fields, b"body", problems)
        received_at = _received(fields.get(b"received"), problems)
        stored_id = storable_id(event_id)
        if stored_id != event_id:
            problems.append(f"event id {shown(event_id)} is not a Stripe id; recorded as {stored_id}")
        return cls(stored_id, body, received_at, as_text(entry_id), "; ".join(problems))

    def to_job_arg(self) -> dict:
        return {
            "event_id": self.event_id,
            "body": self.body,
            "received_at": self.received_at,
            "delivery_id": self.delivery_id,
            "problem": self.problem,
        }

    @classmethod
    def from_job_arg(cls, arg: dict) -> Envelope:
        return cls(
            arg["event_id"], arg["body"], float(arg["received_at"]), arg.get("delivery_id", ""), arg.get("problem", "")
        )


def _field(fields: dict, key: bytes, problems: list[str]) -> str:
    value = fields.get(key)
    if value is None:
        problems.append(f"stream entry has no {key.decode()!r} field")
        return ""
    try:
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError:
        problems.append(f"stream entry field {key.decode()!r} is not UTF-8")
        return value.decode("utf-8", "replace")


def _received(value, problems: list[str]) -> float:
    """When the web received the delivery; now, if the entry does not say."""
    if value is None:
        problems.append("stream entry has no 'received' field")
        return time.time()
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 < seconds < LATEST_TIME:  # also false for NaN
        problems.append(f"stream entry field 'received' is not a time: {shown(value)}")
        return time.time()
    return seconds


def delivery_fields(event_id: str, event_type: str, body: bytes) -> dict:
    return {"id": event_id, "type": event_type, "body": body, "received": f"{time.time():.3f}"}


def push(conn: redis.Redis, event_id: str, event_type: str, body: bytes) -> str:
    """Append one delivery; returns once Redis has acknowledged it."""
    return as_text(conn.xadd(STREAM_KEY, delivery_fields(event_id, event_type, body)))


class InboxWriter:
    """The web's own connections for appending deliveries: one XADD per webhook.

    redis-py's client wraps every command in a pool checkout, a staleness poll
    of the socket, retry and observability layers, a large share of the
    webhook's CPU (docs/benchmarks.md). The connection underneath (redis-py's, so the URL's auth, TLS and database
    still apply) is all one append needs. One per thread of each process (the
    web runs gthread workers), made after a fork: threads never wait for each
    other's round trips, and a slow Redis times each out on its own (503).
    """

    def __init__(self, url: str, timeout: float):
        self.pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.local = threading.local()

    def push(self, event_id: str, event_type: str, body: bytes) -> str:
        """Append one delivery; returns once Redis has acknowledged it, else raises a RedisError."""
        args = [item for pair in delivery_fields(event_id, event_type, body).items() for item in pair]
        connection = self._connection_of_this_thread()
        was_open = connection.is_connected
        try:
            return self._xadd(connection, args)
        except redis.ConnectionError:
            if not was_open:
                raise
            # The socket was closed while idle (a Redis restart, its idle
            # timeout): one try on a new one. Had the first XADD been
            # applied after all, the ledger would ignore the copy.
            return self._xadd(connection, args)

    @staticmethod
    def _xadd(connection, args: list) -> str:
        try:
            connection.send_command("XADD", STREAM_KEY, "*", *args)
            return as_text(connection.read_response())
        except BaseException:
            # A reply may still be on its way: it must never be read as the
            # next command's. redis-py drops the socket on a timeout; this
            # covers anything else that cuts the exchange short (a signal).
            connection.disconnect()
            raise

    def _connection_of_this_thread(self):
        # A forked child's main thread inherits its parent's thread-local
        # values: never share a socket with the process we were forked from.
        if getattr(self.local, "pid", None) != os.getpid():
            self.local.connection, self.local.pid = self.pool.make_connection(), os.getpid()
        return self.local.connection


def ensure_group(conn: redis.Redis) -> None:
    """Create the consumer group (reading from the start) if it does not exist."""
    try:
        conn.xgroup_create(STREAM_KEY, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def depth(conn: redis.Redis) -> int:
    """Deliveries not yet applied: the stream holds only those."""
    return int(conn.xlen(STREAM_KEY))


def oldest_age(conn: redis.Redis, now: float) -> float:
    """Seconds since the oldest delivery not yet applied was added (0 when empty).

    Applied entries are deleted, so the first entry is the oldest waiting one;
    its id starts with the millisecond Redis added it.
    """
    first = conn.xrange(STREAM_KEY, count=1)
    if not first:
        return 0.0
    entry_id = first[0][0]
    # redis-py types an entry's id as optional (XAUTOCLAIM's deleted entries); XRANGE's always have one.
    return max(0.0, now - int(as_text(entry_id).split("-")[0]) / 1000)  # type: ignore[arg-type]


def backlog_gauges(conn: redis.Redis) -> Iterator[GaugeMetricFamily]:
    """The inbox's depth and age as scrape-time gauges (the web hands this to shared.ops.metrics)."""
    waiting = GaugeMetricFamily("portal_inbox_depth", "Deliveries in the inbox stream, not yet applied.")
    waiting.add_metric([], depth(conn))
    yield waiting
    age = GaugeMetricFamily("portal_inbox_oldest_age_seconds", "Age of the oldest delivery not yet applied.")
    age.add_metric([], oldest_age(conn, time.time()))
    yield age
