"""Thin event notifications: what an event destination with the thin payload style sends.

A thin notification names what changed (``related_object``: id, type, URL to
fetch it) and carries no snapshot, no API version. Stripe gives each one an id
of its own; when the same change also has a snapshot event (a destination of
each style, as during a migration), the thin event names that twin in
``snapshot_event`` when fetched (``GET /v2/core/events/{id}``), not in the
notification itself. The sandbox derives the thin id from the snapshot id, so
the twin is found without more state.
"""

from __future__ import annotations

from datetime import UTC, datetime

THIN_PREFIX = "evt_thin_"  # still an evt_ id: receivers check that shape
SNAPSHOT_PREFIX = "evt_"
# Paths of the objects the sandbox emits events about (object field -> collection path).
OBJECT_PATHS = {
    "subscription": "/v1/subscriptions/",
    "invoice": "/v1/invoices/",
    "checkout.session": "/v1/checkout/sessions/",
    "customer": "/v1/customers/",
    "product": "/v1/products/",
    "price": "/v1/prices/",
    "payment_method": "/v1/payment_methods/",
    "billing_portal.configuration": "/v1/billing_portal/configurations/",
    "billing_portal.session": "/v1/billing_portal/sessions/",
}


def thin_id(snapshot_id: str) -> str:
    return THIN_PREFIX + snapshot_id.removeprefix(SNAPSHOT_PREFIX)


def snapshot_id(thin_event_id: str) -> str | None:
    """The snapshot twin's id of a sandbox thin event id, or None for any other id."""
    if not thin_event_id.startswith(THIN_PREFIX):
        return None
    return SNAPSHOT_PREFIX + thin_event_id.removeprefix(THIN_PREFIX)


def iso_time(epoch: int) -> str:
    """Thin events carry RFC 3339 times with milliseconds, not epoch seconds."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def notification(event: dict) -> dict:
    """The thin notification of a snapshot event, as a thin destination receives it."""
    obj = event["data"]["object"]
    kind = obj.get("object", "")
    body = {
        "id": thin_id(event["id"]),
        "object": "v2.core.event",
        "type": "v1." + event["type"],
        "created": iso_time(event["created"]),
        "livemode": bool(event.get("livemode")),
        "related_object": _related(obj, kind),
    }
    request = event.get("request") or {}
    if request.get("id"):
        body["reason"] = {
            "type": "request",
            "request": {"id": request["id"], "idempotency_key": request.get("idempotency_key") or ""},
        }
    return body


def _related(obj: dict, kind: str) -> dict | None:
    """What the notification is about; null for an object without an id of its own (an entitlement summary)."""
    if "id" not in obj:
        return None
    return {"id": obj["id"], "type": kind, "url": OBJECT_PATHS.get(kind, f"/v1/{kind}s/") + obj["id"]}


def fetched(event: dict) -> dict:
    """``GET /v2/core/events/{id}``: the notification plus the snapshot twin's id."""
    return {**notification(event), "snapshot_event": event["id"], "changes": None, "context": None}
