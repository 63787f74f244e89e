"""The webhook inbox: a Redis stream between the web process and the workers.

The web appends each verified delivery with one XADD (one round trip, no job
bookkeeping), so answering Stripe stays cheap. Workers read it through a
consumer group in batches; an entry stays pending until the batch that holds
it is committed, so a killed worker's entries are claimed by another.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import redis

STREAM_KEY = "portal:webhooks"
GROUP = "appliers"


@dataclass(frozen=True)
class Envelope:
    """One delivery of one event, as the web received it."""

    event_id: str
    body: str
    received_at: float
    delivery_id: str = ""  # the stream entry id; distinguishes redeliveries

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict) -> "Envelope":
        def text(key: bytes) -> str:
            value = fields.get(key, b"")
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

        return cls(
            event_id=text(b"id"),
            body=text(b"body"),
            received_at=float(text(b"received") or 0),
            delivery_id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        )

    def to_job_arg(self) -> dict:
        return {
            "event_id": self.event_id,
            "body": self.body,
            "received_at": self.received_at,
            "delivery_id": self.delivery_id,
        }

    @classmethod
    def from_job_arg(cls, arg: dict) -> "Envelope":
        return cls(arg["event_id"], arg["body"], float(arg["received_at"]), arg.get("delivery_id", ""))


def push(conn: redis.Redis, event_id: str, event_type: str, body: bytes) -> str:
    """Append one delivery; returns once Redis has acknowledged it."""
    fields = {"id": event_id, "type": event_type, "body": body, "received": f"{time.time():.3f}"}
    entry_id = conn.xadd(STREAM_KEY, fields)
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


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
    entry_id = first[0][0].decode() if isinstance(first[0][0], bytes) else first[0][0]
    return max(0.0, now - int(entry_id.split("-")[0]) / 1000)
