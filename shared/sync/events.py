"""A parsed Stripe event (snapshot or thin) and the lock key that orders its writes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import orjson

from shared.infra.errors import EventError
from shared.sync.event_shape import (  # noqa: F401 (the event types are read from here too)
    CHECKOUT_EVENTS,
    INVOICE_EVENTS,
    SUBSCRIPTION_EVENTS,
    THIN_OBJECT,
    THIN_TYPES,
    THIN_VIA_SNAPSHOT,
    check_event,
    check_thin_event,
    customer_reference,
)
from shared.sync.inbox import Envelope
from shared.sync.stripe_objects import invoice_subscription_id

UNHANDLED_THIN = "thin:"  # the kind of a thin type no handler takes: recorded ignored


@dataclass(frozen=True)
class Event:
    """One delivery's event.

    ``kind`` is the snapshot type whose handler applies it: the event's own
    type for a snapshot event, ``customer.subscription.updated`` for a thin
    ``v1.customer.subscription.updated``. A thin event's ``obj`` is empty
    until its ``related_id`` was fetched (``resolved``); ``fetched_at`` is
    then the time of that fetch, and the object is current as of it.
    """

    id: str
    type: str
    created: int
    obj: dict
    envelope: Envelope
    kind: str = ""
    related_id: str | None = None
    fetched_at: float | None = None

    def __post_init__(self):
        if not self.kind:  # built without one: a snapshot event, applied as its own type
            object.__setattr__(self, "kind", self.type)

    @classmethod
    def parse(cls, envelope: Envelope) -> Event:
        """The delivery's event, checked by shared.sync.event_shape; never trusts the web's check."""
        if envelope.problem:
            raise EventError(envelope.problem)
        try:
            data = orjson.loads(envelope.body)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"event body is not JSON: {exc}") from None
        event = cls._thin(data, envelope) if _is_thin(data) else cls._snapshot(data, envelope)
        if event.id != envelope.event_id:
            raise EventError("event id does not match its delivery")
        return event

    @classmethod
    def _snapshot(cls, data, envelope: Envelope) -> Event:
        check_event(data)
        return cls(data["id"], data["type"], data["created"], data["data"]["object"], envelope, data["type"])

    @classmethod
    def _thin(cls, data: dict, envelope: Envelope) -> Event:
        created = check_thin_event(data)
        kind = THIN_TYPES.get(data["type"])
        if kind is None:
            return cls(data["id"], data["type"], created, {}, envelope, UNHANDLED_THIN + data["type"])
        if data["type"] in THIN_VIA_SNAPSHOT:  # no related object: its snapshot twin says whom it is about
            return cls(data["id"], data["type"], created, {}, envelope, kind)
        return cls(data["id"], data["type"], created, {}, envelope, kind, data["related_object"]["id"])

    @property
    def thin(self) -> bool:
        return self.type != self.kind

    def resolved(self, obj: dict, fetched_at: float | None) -> Event:
        """This event carrying the object fetched for it (or, for a deleted customer, its bare id)."""
        return dataclasses.replace(self, obj=obj, fetched_at=fetched_at)

    @property
    def customer_id(self) -> str | None:
        """The customer the event names; None when it names none a column can hold.

        Handled types were checked to name a Stripe-shaped one; others are only
        recorded (ledger.customer_id), so an odd value there is dropped, not refused.
        """
        if self.kind == "customer.deleted":
            return customer_reference(self.obj.get("id"))
        return customer_reference(self.obj.get("customer"))

    @property
    def subscription_id(self) -> str | None:
        if self.kind in SUBSCRIPTION_EVENTS:
            return self.obj.get("id") or self.related_id
        if self.kind in INVOICE_EVENTS:
            return invoice_subscription_id(self.obj)
        return None

    def lock_key(self) -> tuple[str, str, int, str]:
        """Every batch writes in this order, so two workers never deadlock.

        The row an event locks (its subscription, else its customer) comes
        first, then the event's ledger row: one global order of locks.
        """
        sub_id = self.subscription_id
        if sub_id:
            return ("sub", sub_id, self.created, self.id)
        return ("cus", self.customer_id or "", self.created, self.id)


def _is_thin(data) -> bool:
    return isinstance(data, dict) and data.get("object") == THIN_OBJECT
