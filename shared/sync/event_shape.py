"""What an event must look like for the worker to apply it: one description for the web and the worker.

The web refuses (400) a signed event that fails these checks, so the sender sees
why at once and nothing is queued; the worker checks again before any SQL,
because anyone who can write to Redis can add a delivery, and an event that
fails here is then recorded failed on its own instead of failing its batch.
The limits are the columns' (shared.infra.models): ids and text up to 255
characters, statuses up to 32, quantities within PostgreSQL's 4-byte integer,
times a datetime column holds. Types the worker does not handle only need a
sane envelope: the ledger records them ignored.

Every check is a compiled pattern or an isinstance test: the webhook runs
this on each delivery, and it costs a few microseconds of the request.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from shared.infra.errors import EventError

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_failed"})
CHECKOUT_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
    }
)
ENTITLEMENT_SUMMARY_EVENT = "entitlements.active_entitlement_summary.updated"
MAX_SUMMARY_ENTITLEMENTS = 100  # Stripe sends a page of 10; the rest is read from its API

EARLIEST_CREATED = 1_262_304_000  # 2010-01-01, before Stripe's first event
LATEST_TIME = 4_102_444_800  # 2100-01-01: past any test clock, inside every column; not "now + a bit"
INT4_MAX = 2**31 - 1  # IntegerField is int4 on PostgreSQL
TEXT = re.compile(r"[^\x00-\x1f\x7f]{0,255}")  # fits a CharField(255); PostgreSQL refuses NUL
LOOKUP_KEY = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
STATUS = re.compile(r"[a-z_]{1,32}")
EVENT_TYPE = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces; StripeEvent.type holds 128
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
STORABLE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")  # Stripe's charset: safe as a ledger key and in an RQ job id


def _stripe_id(prefix: str) -> re.Pattern:
    return re.compile(rf"{prefix}_[A-Za-z0-9_]{{1,{254 - len(prefix)}}}")


EVENT_ID = _stripe_id("evt")
SUBSCRIPTION_ID = _stripe_id("sub")
CUSTOMER_ID = _stripe_id("cus")
INVOICE_ID = _stripe_id("in")
CHECKOUT_ID = _stripe_id("cs")
FEATURE_ID = _stripe_id("feat")
SUBSCRIPTION_TIMES = (
    "cancel_at",
    "canceled_at",
    "ended_at",
    "current_period_start",
    "current_period_end",
    "trial_end",
    "created",
)


class UnfitEvent(EventError):
    """A field of the event could never be applied; the message names it."""


def check_event(event: Any) -> None:
    """Raise UnfitEvent naming the first field the worker could never apply."""
    if not isinstance(event, dict):
        raise UnfitEvent("the event must be a JSON object")
    _match(event.get("id"), EVENT_ID, "id", "a Stripe event id (evt_...)")
    _match(event.get("type"), EVENT_TYPE, "type", "a printable string of up to 128 characters")
    _time(event.get("created"), "created", EARLIEST_CREATED, optional=False)
    data = _object(event.get("data"), "data", optional=False)
    obj = _object(data.get("object"), "data.object", optional=False)
    check = OBJECT_CHECKS.get(event["type"])
    if check is not None:
        check(obj, "data.object")


def check_thin_event(event: dict) -> int:
    """Raise UnfitEvent naming the first unfit field of a thin notification; return its time in epoch seconds.

    A handled type must name its object in ``related_object.id`` (the worker
    fetches it by that id, never by the notification's URL), unless its object
    has no id (THIN_VIA_SNAPSHOT: the worker follows the fetched event instead);
    other types are recorded ignored and need only a sane envelope.
    """
    _match(event.get("id"), EVENT_ID, "id", "a Stripe event id (evt_...)")
    _match(event.get("type"), EVENT_TYPE, "type", "a printable string of up to 128 characters")
    created = _rfc3339(event.get("created"), "created")
    related_id = THIN_RELATED_IDS.get(event["type"])
    if related_id is not None:
        related = _object(event.get("related_object"), "related_object", optional=False)
        _match(related.get("id"), *related_id)
    return created


def _rfc3339(value: Any, path: str) -> int:
    """Thin events carry RFC 3339 UTC times (``2026-12-05T05:35:22.123Z``); the ledger keeps whole seconds."""
    if not (isinstance(value, str) and RFC3339_UTC.fullmatch(value)):
        raise UnfitEvent(f"{path} must be an RFC 3339 UTC time such as 2026-12-05T05:35:22.123Z")
    try:
        seconds = int(datetime.fromisoformat(value).timestamp())
    except ValueError:  # the pattern passes 2026-02-31
        raise UnfitEvent(f"{path} must be an RFC 3339 UTC time such as 2026-12-05T05:35:22.123Z") from None
    if not EARLIEST_CREATED <= seconds < LATEST_TIME:
        raise UnfitEvent(f"{path} must be a time from 2010 to 2099")
    return seconds


def check_subscription(sub: dict, path: str) -> None:
    _match(sub.get("id"), SUBSCRIPTION_ID, f"{path}.id", "a Stripe subscription id (sub_...)")
    _reference(sub.get("customer"), CUSTOMER_ID, f"{path}.customer", "a Stripe customer id (cus_...)")
    _match(sub.get("status"), STATUS, f"{path}.status", "a status of up to 32 letters")
    for key in SUBSCRIPTION_TIMES:
        _time(sub.get(key), f"{path}.{key}")
    items = _object(sub.get("items"), f"{path}.items")
    data = items.get("data")
    if data is not None and not isinstance(data, list):
        raise UnfitEvent(f"{path}.items.data must be a list")
    if data:
        _check_item(data[0], f"{path}.items.data[0]")


def _check_item(item: Any, path: str) -> None:
    item = _object(item, path, optional=False)
    quantity = item.get("quantity")
    if quantity is not None and (type(quantity) is not int or not 0 <= quantity <= INT4_MAX):
        raise UnfitEvent(f"{path}.quantity must be a whole number from 0 to {INT4_MAX}")
    for key in ("current_period_start", "current_period_end"):
        _time(item.get(key), f"{path}.{key}")
    price = _object(item.get("price"), f"{path}.price")
    _match(price.get("id"), TEXT, f"{path}.price.id", "an id of up to 255 printable characters", optional=True)
    _reference(
        price.get("product"), TEXT, f"{path}.price.product", "an id of up to 255 printable characters", optional=True
    )


def check_invoice(invoice: dict, path: str) -> None:
    _match(invoice.get("id"), INVOICE_ID, f"{path}.id", "a Stripe invoice id (in_...)")
    _reference(
        invoice.get("customer"), CUSTOMER_ID, f"{path}.customer", "a Stripe customer id (cus_...)", optional=True
    )
    parent = _object(invoice.get("parent"), f"{path}.parent")
    details = _object(parent.get("subscription_details"), f"{path}.parent.subscription_details")
    for value, where in (
        (details.get("subscription"), f"{path}.parent.subscription_details.subscription"),
        (invoice.get("subscription"), f"{path}.subscription"),
    ):
        _reference(value, SUBSCRIPTION_ID, where, "a Stripe subscription id (sub_...)", optional=True)


def check_checkout(session: dict, path: str) -> None:
    _match(session.get("id"), CHECKOUT_ID, f"{path}.id", "a Stripe checkout session id (cs_...)")
    _reference(
        session.get("customer"), CUSTOMER_ID, f"{path}.customer", "a Stripe customer id (cus_...)", optional=True
    )
    details = _object(session.get("customer_details"), f"{path}.customer_details")
    for value, where in (
        (session.get("client_reference_id"), f"{path}.client_reference_id"),
        (session.get("customer_email"), f"{path}.customer_email"),
        (details.get("email"), f"{path}.customer_details.email"),
    ):
        _match(value, TEXT, where, "text of up to 255 printable characters", optional=True)


def check_deleted_customer(customer: dict, path: str) -> None:
    _match(customer.get("id"), CUSTOMER_ID, f"{path}.id", "a Stripe customer id (cus_...)")


def check_entitlement_summary(summary: dict, path: str) -> None:
    _reference(summary.get("customer"), CUSTOMER_ID, f"{path}.customer", "a Stripe customer id (cus_...)")
    page = _object(summary.get("entitlements"), f"{path}.entitlements", optional=False)
    if type(page.get("has_more")) is not bool:
        raise UnfitEvent(f"{path}.entitlements.has_more must be true or false")
    data = page.get("data")
    if not isinstance(data, list) or len(data) > MAX_SUMMARY_ENTITLEMENTS:
        raise UnfitEvent(f"{path}.entitlements.data must be a list of at most {MAX_SUMMARY_ENTITLEMENTS}")
    for index, entitlement in enumerate(data):
        check_active_entitlement(entitlement, f"{path}.entitlements.data[{index}]")


def check_active_entitlement(entitlement: Any, path: str) -> None:
    """One active entitlement, from an event or from Stripe's list."""
    entitlement = _object(entitlement, path, optional=False)
    _reference(entitlement.get("feature"), FEATURE_ID, f"{path}.feature", "a Stripe feature id (feat_...)")
    _match(entitlement.get("lookup_key"), LOOKUP_KEY, f"{path}.lookup_key", "1 to 255 printable characters")


OBJECT_CHECKS = {
    **dict.fromkeys(SUBSCRIPTION_EVENTS, check_subscription),
    **dict.fromkeys(INVOICE_EVENTS, check_invoice),
    **dict.fromkeys(CHECKOUT_EVENTS, check_checkout),
    "customer.deleted": check_deleted_customer,
    ENTITLEMENT_SUMMARY_EVENT: check_entitlement_summary,
}


# A thin notification of a handled type: the id pattern of the object it names (what
# the worker fetches; shared.sync.apply.ObjectFetcher.related knows how), and the
# snapshot type whose handler then applies it. A type handled for snapshots but not
# listed here, nor in THIN_VIA_SNAPSHOT, is recorded ignored when thin.
THIN_PREFIX = "v1."
THIN_OBJECT = "v2.core.event"
_RELATED = "related_object.id"
THIN_RELATED_IDS = {
    **{THIN_PREFIX + k: (SUBSCRIPTION_ID, _RELATED, "a Stripe subscription id (sub_...)") for k in SUBSCRIPTION_EVENTS},
    **{THIN_PREFIX + k: (INVOICE_ID, _RELATED, "a Stripe invoice id (in_...)") for k in INVOICE_EVENTS},
    **{THIN_PREFIX + k: (CHECKOUT_ID, _RELATED, "a Stripe checkout session id (cs_...)") for k in CHECKOUT_EVENTS},
    THIN_PREFIX + "customer.deleted": (CUSTOMER_ID, _RELATED, "a Stripe customer id (cus_...)"),
}
# Thin types whose object has no id to fetch it by (an entitlement summary; related_object
# is null): the worker fetches the v2 event, follows its ``snapshot_event`` to the v1 event
# of the same change for whom it is about, and reads that customer's current state
# (shared.sync.apply.EventApplier._resolved; check_fetched_thin_event, snapshot_customer).
THIN_VIA_SNAPSHOT = frozenset({THIN_PREFIX + ENTITLEMENT_SUMMARY_EVENT})
THIN_TYPES = {thin_type: thin_type.removeprefix(THIN_PREFIX) for thin_type in [*THIN_RELATED_IDS, *THIN_VIA_SNAPSHOT]}


def check_fetched_thin_event(fetched: dict, event_id: str, event_type: str) -> str:
    """The snapshot twin's id that a fetched v2 event (``GET /v2/core/events/{id}``) names.

    Raise UnfitEvent when it is not the notification's own event or names no
    usable twin: nothing else says whom the notification is about.
    """
    where = f"the v2 event {event_id} (fetched)"
    if fetched.get("id") != event_id:
        raise UnfitEvent(f"Stripe answered {shown(fetched.get('id'))} for {event_id}")
    if fetched.get("type") != event_type:
        raise UnfitEvent(f"{where} is of type {shown(fetched.get('type'))}, not {event_type}")
    twin = fetched.get("snapshot_event")
    if twin is None:
        raise UnfitEvent(f"{where} names no snapshot_event, so nothing says whose entitlements changed")
    _match(twin, EVENT_ID, f"{where}: snapshot_event", "a Stripe event id (evt_...)")
    if twin == event_id:
        raise UnfitEvent(f"{where}: snapshot_event names the thin event itself")
    return twin


def snapshot_customer(snapshot: dict, snapshot_id: str, kind: str) -> str:
    """The customer a fetched snapshot event (``GET /v1/events/{id}``) of type ``kind`` is about.

    Only the customer is taken: the snapshot's object is as old as the event,
    and the worker reads the customer's current state instead.
    """
    where = f"the snapshot event {snapshot_id} (fetched)"
    if snapshot.get("id") != snapshot_id:
        raise UnfitEvent(f"Stripe answered {shown(snapshot.get('id'))} for {snapshot_id}")
    if snapshot.get("type") != kind:
        raise UnfitEvent(f"{where} is of type {shown(snapshot.get('type'))}, not {kind}")
    data = _object(snapshot.get("data"), f"{where}: data", optional=False)
    obj = _object(data.get("object"), f"{where}: data.object", optional=False)
    customer = customer_reference(obj.get("customer"))
    if customer is None:
        raise UnfitEvent(f"{where}: data.object.customer must be a Stripe customer id (cus_...)")
    return customer


def customer_reference(value: Any) -> str | None:
    """The customer id that ``value`` (bare or expanded) names, if it is Stripe-shaped."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and CUSTOMER_ID.fullmatch(value) else None


def storable_id(event_id: str) -> str:
    """The id the ledger (and RQ's job id) can hold for this delivery.

    A Stripe-shaped id is kept; anything else (NUL, too long, other
    characters, empty) is stood in for by a marked hash of it, so its
    failure can still be recorded and listed.
    """
    if STORABLE_ID.fullmatch(event_id):
        return event_id
    return "invalid_id_" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def shown(value: Any, limit: int = 80) -> str:
    """A value for an error message: escaped (no control characters) and short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _match(value: Any, pattern: re.Pattern, path: str, what: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not (isinstance(value, str) and pattern.fullmatch(value)):
        raise UnfitEvent(f"{path} must be {what}")


def _reference(value: Any, pattern: re.Pattern, path: str, what: str, optional: bool = False) -> None:
    """An id that Stripe sends bare, or expanded into an object carrying it."""
    _match(value.get("id") if isinstance(value, dict) else value, pattern, path, what, optional)


def _time(value: Any, path: str, earliest: int = 0, optional: bool = True) -> None:
    if value is None and optional:
        return
    if type(value) is not int or not earliest <= value < LATEST_TIME:  # type(): a bool is no time
        raise UnfitEvent(f"{path} must be a whole number of seconds from {earliest} to {LATEST_TIME}")


def _object(value: Any, path: str, optional: bool = True) -> dict:
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise UnfitEvent(f"{path} must be an object")
    return value
