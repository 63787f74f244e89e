"""In-memory state: collections of Stripe objects, events, and lookups.

One re-entrant lock guards everything; operations elsewhere take it for
their whole duration so a multi-event change is never seen half done.
"""

import contextvars
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from . import entitlements, objects
from .clock import Clock
from .delivery import Dispatcher
from .errors import ApiError, missing

EVENT_RETENTION_SECONDS = 30 * 24 * 3600
# stripe-python sends a fresh key with every POST; keep the newest ones only.
MAX_IDEMPOTENCY_KEYS = 10_000

# Which request caused the change being made, for ``event.request``.
current_request: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "current_request", default=MappingProxyType({"id": None, "idempotency_key": None})
)

# Id prefix -> (collection name, noun used in "No such ..." messages).
KINDS = {
    "cus": ("customers", "customer"),
    "prod": ("products", "product"),
    "price": ("prices", "price"),
    "pm": ("payment_methods", "PaymentMethod"),
    "sub": ("subscriptions", "subscription"),
    "in": ("invoices", "invoice"),
    "cs": ("checkout_sessions", "checkout.session"),
    "bps": ("portal_sessions", "billing_portal.session"),
    "bpc": ("portal_configurations", "billing_portal.configuration"),
    "evt": ("events", "event"),
    "feat": ("features", "entitlements.feature"),
    "prodft": ("product_features", "product_feature"),
    "ent": ("active_entitlements", "entitlements.active_entitlement"),
}


class Store:
    def __init__(self, clock: Clock, dispatcher: Dispatcher) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.dispatcher = dispatcher
        self.base_url = "http://127.0.0.1"
        self.clear()

    def clear(self) -> None:
        """Forget every object, event and idempotency key."""
        self.collections: dict[str, dict[str, dict]] = {name: {} for name, _ in KINDS.values()}
        # v2 events stored as they are, answered before any derived from a snapshot (stripe_sandbox.api_v2).
        self.collections["thin_events"] = {}
        self.invoice_numbers: dict[str, int] = {}
        # Trialing subscriptions already sent customer.subscription.trial_will_end.
        self.trial_notices: set[str] = set()
        # Idempotency-Key -> (request fingerprint, status, response body).
        self.replays: dict[str, tuple[str, int, str]] = {}

    # -- access ----------------------------------------------------------
    def add(self, collection: str, obj: dict) -> dict:
        self.collections[collection][obj["id"]] = obj
        return obj

    def get(self, collection: str, object_id: str, param: str | None = None) -> dict:
        """The stored object, or a ``No such ...`` error (404, or 400 for a param)."""
        obj = self.collections[collection].get(object_id)
        if obj is None:
            raise missing(_noun(collection), object_id, param)
        return obj

    def find(self, object_id: str) -> dict | None:
        prefix = object_id.split("_", 1)[0]
        if prefix not in KINDS:
            return None
        return self.collections[KINDS[prefix][0]].get(object_id)

    def all(self, collection: str) -> list[dict]:
        """Objects newest first, like Stripe lists."""
        return list(reversed(self.collections[collection].values()))

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    # -- events ----------------------------------------------------------
    def emit(self, event_type: str, obj: dict, previous: dict | None = None, at: int | None = None) -> dict:
        """Record an event with a frozen snapshot of ``obj`` and queue delivery."""
        created = self.clock.now() if at is None else at
        event = objects.event(
            event_type,
            created,
            _snapshot(obj),
            _snapshot(previous),
            dict(current_request.get()),
            len(self.dispatcher.endpoints),
        )
        self.add("events", event)
        self.dispatcher.publish(event)
        self.forget_old_events()
        if event_type.startswith("customer.subscription."):
            # A subscription that starts, switches or ends may change what its customer is entitled to.
            entitlements.refresh(self, obj["customer"], created)
        return event

    def forget_old_events(self) -> None:
        """Stripe keeps 30 days of events; so does the sandbox, in its own time."""
        horizon = self.clock.now() - EVENT_RETENTION_SECONDS
        events = self.collections["events"]
        # Oldest first in insertion order, so stop at the first one to keep:
        # this runs on every emit and must not scan the whole history.
        while events:
            oldest = next(iter(events.values()))
            if oldest["created"] >= horizon:
                break
            del events[oldest["id"]]
            self.dispatcher.forget(oldest["id"])

    def remember_reply(self, key: str, reply: tuple[str, int, str]) -> None:
        self.replays[key] = reply
        while len(self.replays) > MAX_IDEMPOTENCY_KEYS:
            del self.replays[next(iter(self.replays))]

    def event_view(self, event: dict) -> dict:
        view = _snapshot(event)
        view["pending_webhooks"] = self.dispatcher.pending_webhooks(event["id"])
        return view

    # -- lists and expansion ---------------------------------------------
    def page(self, items: list[dict], params: dict, url: str, view: Callable[[dict], dict] | None = None) -> dict:
        """A Stripe list object for ``items`` (already newest first)."""
        limit = params.get("limit", 10)
        start = 0
        if "starting_after" in params:
            start = _position(items, params["starting_after"], "starting_after") + 1
        elif "ending_before" in params:
            end = _position(items, params["ending_before"], "ending_before")
            start = max(0, end - limit)
            items = items[:end]
        chunk = items[start : start + limit]
        view = view or _snapshot
        return objects.list_object([view(o) for o in chunk], url, has_more=start + limit < len(items))

    def expand(self, obj: dict, paths: Iterable[str]) -> dict:
        result = _snapshot(obj)
        for path in paths:
            self._expand_path(result, path.split("."))
        return result

    def _expand_path(self, node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(item, rest)
            return
        value = node.get(head)
        if isinstance(value, str):
            found = self.find(value)
            if found is not None:
                value = node[head] = _snapshot(found)
        self._expand_path(value, rest)


def _snapshot(value: Any) -> Any:
    # A JSON round trip is a deep copy several times faster than copy.deepcopy.
    return json.loads(json.dumps(value))


def _position(items: list[dict], object_id: str, param: str) -> int:
    for index, item in enumerate(items):
        if item["id"] == object_id:
            return index
    prefix = object_id.split("_", 1)[0]
    noun = KINDS[prefix][1] if prefix in KINDS else "object"
    raise missing(noun, object_id, param)


def _noun(collection: str) -> str:
    for name, noun in KINDS.values():
        if name == collection:
            return noun
    raise KeyError(collection)


def check_expand(paths: list[str], allowed: Iterable[str]) -> list[str]:
    allowed = set(allowed)
    for path in paths:
        if path not in allowed:
            raise ApiError(f"This property cannot be expanded ({path}).", param="expand")
    return paths
