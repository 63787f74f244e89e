"""A parsed Stripe event and the lock key that orders its writes."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from shared.infra.errors import EventError
from shared.sync.event_shape import (  # noqa: F401 (the event types are read from here too)
    CHECKOUT_EVENTS,
    INVOICE_EVENTS,
    SUBSCRIPTION_EVENTS,
    check_event,
    customer_reference,
)
from shared.sync.inbox import Envelope
from shared.sync.stripe_objects import invoice_subscription_id


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    obj: dict
    envelope: Envelope

    @classmethod
    def parse(cls, envelope: Envelope) -> Event:
        """The delivery's event, checked by shared.sync.event_shape; never trusts the web's check."""
        if envelope.problem:
            raise EventError(envelope.problem)
        try:
            data = orjson.loads(envelope.body)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"event body is not JSON: {exc}") from None
        check_event(data)
        if data["id"] != envelope.event_id:
            raise EventError("event id does not match its delivery")
        return cls(data["id"], data["type"], data["created"], data["data"]["object"], envelope)

    @property
    def customer_id(self) -> str | None:
        """The customer the event names; None when it names none a column can hold.

        Handled types were checked to name a Stripe-shaped one; others are only
        recorded (ledger.customer_id), so an odd value there is dropped, not refused.
        """
        if self.type == "customer.deleted":
            return customer_reference(self.obj.get("id"))
        return customer_reference(self.obj.get("customer"))

    @property
    def subscription_id(self) -> str | None:
        if self.type in SUBSCRIPTION_EVENTS:
            return self.obj.get("id")
        if self.type in INVOICE_EVENTS:
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
