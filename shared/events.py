"""A parsed Stripe event and the lock key that orders its writes."""
from __future__ import annotations

from dataclasses import dataclass

import orjson

from shared.errors import EventError
from shared.inbox import Envelope
from shared.stripe_objects import id_of, invoice_subscription_id

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


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    obj: dict
    envelope: Envelope

    @classmethod
    def parse(cls, envelope: Envelope) -> "Event":
        try:
            data = orjson.loads(envelope.body)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"event body is not JSON: {exc}") from None
        obj = (data.get("data") or {}).get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict) or not isinstance(data.get("created"), int):
            raise EventError("event has no data.object or no integer created")
        if data.get("id") != envelope.event_id or not isinstance(data.get("type"), str):
            raise EventError("event id or type does not match its delivery")
        return cls(data["id"], data["type"], data["created"], obj, envelope)

    @property
    def customer_id(self) -> str | None:
        if self.type == "customer.deleted":
            return self.obj.get("id")
        return id_of(self.obj.get("customer"))

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
