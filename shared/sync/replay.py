"""Replaying Stripe's events into the inbox, for deliveries that never arrived.

Events are read from Stripe's events list (the last 30 days are kept there)
and appended to the same Redis stream the web writes to, so the worker applies
them exactly as it would a webhook; the ledger makes a second copy harmless,
and those already applied or ignored are not sent at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import redis
import stripe

from shared.sync import inbox, ledger
from shared.sync.handlers import HANDLED_TYPES

if TYPE_CHECKING:
    from stripe.params import EventListParams

RELATIVE = re.compile(r"^(\d+)([smhdw])$")
STRIPE_RETENTION_SECONDS = 30 * 86400  # Stripe's events list keeps 30 days
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float) -> int:
    """An epoch second from ``3d``/``12h``/``30m``/``2w``/``45s`` ago, or an ISO 8601 time (UTC if naive)."""
    text = (text or "").strip()
    relative = RELATIVE.match(text)
    if relative:
        return int(now - int(relative.group(1)) * UNIT_SECONDS[relative.group(2)])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a relative time like 3d, 12h, 30m nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def fetch_events(client: stripe.StripeClient, since: int, undelivered_only: bool = False) -> Iterator[dict]:
    """Events of the types the worker handles, created at or after ``since``, newest first."""
    params: EventListParams = {"created": {"gte": since}, "limit": 100, "types": sorted(HANDLED_TYPES)}
    if undelivered_only:
        params["delivery_success"] = False
    for event in client.v1.events.list(params=params).auto_paging_iter():
        yield event.to_dict(for_json=True)  # decimal strings stay strings, as in a webhook body


def not_yet_applied(events: list[dict]) -> list[dict]:
    """The events the ledger has not applied or ignored, oldest first."""
    done = ledger.done_ids([event["id"] for event in events])
    return sorted((e for e in events if e["id"] not in done), key=lambda e: (e["created"], e["id"]))


def enqueue(conn: redis.Redis, event: dict) -> str:
    """Append the event as a delivery: the body is the event's JSON, as a webhook carries it."""
    body = json.dumps(event, separators=(",", ":")).encode()
    return inbox.push(conn, event["id"], event["type"], body)
