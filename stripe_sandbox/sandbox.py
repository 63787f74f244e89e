"""The sandbox as one object: state, clock, webhooks, and test helpers."""

import copy
import heapq
from typing import Any

from . import billing, checkout, plans, portal
from .clock import Clock
from .delivery import DEFAULT_RETRY_DELAYS, Dispatcher
from .errors import ApiError
from .rate_limit import RateLimit
from .store import Store

MAX_BOUNDARIES_PER_ADVANCE = 1_000_000


class Sandbox:
    def __init__(self, plans_path=None, retry_delays=DEFAULT_RETRY_DELAYS) -> None:
        self.clock = Clock()
        self.dispatcher = Dispatcher(retry_delays)
        self.rate_limit = RateLimit()
        self.store = Store(self.clock, self.dispatcher)
        self._plans = plans.load(plans_path)
        self._seed()

    def _seed(self) -> None:
        with self.store.lock:
            plans.seed(self.store, self._plans)
            portal.seed_default_configuration(self.store)

    def reset(self) -> None:
        """Back to a fresh start: seed catalogue only, real time, no faults.

        Webhook endpoints stay; queued and held deliveries are discarded.
        """
        with self.store.lock:
            self.dispatcher.clear()
            self.rate_limit.configure(None)
            self.rate_limit.reset_counts()
            self.clock.reset()
            self.store.clear()
            self._seed()

    @property
    def lock(self):
        return self.store.lock

    # -- webhooks ---------------------------------------------------------
    def add_webhook_endpoint(self, url: str, secret: str | None = None, style: str = "snapshot"):
        """An event destination; ``style`` is its payload: ``snapshot`` events or ``thin`` notifications."""
        return self.dispatcher.add_endpoint(url, secret, style)

    def configure_delivery(self, **faults):
        return self.dispatcher.configure(**faults)

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        return self.dispatcher.wait_idle(timeout)

    def events(self, event_type: str | None = None) -> list[dict]:
        """Events oldest first, optionally of one type."""
        with self.lock:
            found = self.store.all("events")[::-1]
            return [copy.deepcopy(e) for e in found if event_type is None or e["type"] == event_type]

    # -- time -------------------------------------------------------------
    def advance_clock(self, seconds: int) -> list[dict]:
        """Move time forward, crossing each renewal or ending in order.

        Returns the events caused, oldest first.
        """
        with self.lock:
            before = len(self.store.collections["events"])
            target = self.clock.now() + int(seconds)
            self._cross_boundaries(target)
            self._expire_checkouts(target)
            caused = list(self.store.collections["events"].values())[before:]
            self.clock.advance(int(seconds))
            self.store.forget_old_events()
            return caused

    def _cross_boundaries(self, target: int) -> None:
        """Process renewals and endings in time order, across all subscriptions.

        Crossing one subscription's boundary never moves another's, so a heap
        of (boundary, creation order) is enough.
        """
        subs = self.store.all("subscriptions")[::-1]
        due = [
            (b, order, s["id"])
            for order, s in enumerate(subs)
            if (b := billing.next_boundary(self.store, s)) is not None and b <= target
        ]
        heapq.heapify(due)
        for _ in range(MAX_BOUNDARIES_PER_ADVANCE):
            if not due:
                return
            at, order, sub_id = heapq.heappop(due)
            sub = self.store.get("subscriptions", sub_id)
            billing.cross_boundary(self.store, sub, at)
            following = billing.next_boundary(self.store, sub)
            if following is not None and following <= target:
                heapq.heappush(due, (following, order, sub_id))
        raise RuntimeError("too many billing periods in one clock advance")

    def _expire_checkouts(self, target: int) -> None:
        for session in self.store.all("checkout_sessions")[::-1]:
            if session["status"] == "open" and session["expires_at"] <= target:
                checkout.expire(self.store, session, session["expires_at"])

    # -- shortcuts for tests and benchmarks --------------------------------
    def price(self, price_or_lookup_key: str) -> dict:
        for price in self.store.all("prices"):
            if price_or_lookup_key in (price["id"], price["lookup_key"]):
                return price
        raise ApiError(f"No such price: '{price_or_lookup_key}'", param="price", code="resource_missing")

    def create_subscription(
        self, customer_email: str, price: str, trial_days: int | None = None, client_reference_id: str | None = None
    ) -> dict:
        """What a paid Checkout does, without the hosted page."""
        with self.lock:
            before = len(self.store.collections["events"])
            params: dict[str, Any] = {
                "mode": "subscription",
                "customer_email": customer_email,
                "success_url": "http://127.0.0.1/success",
                "line_items": [{"price": self.price(price)["id"], "quantity": 1}],
                "client_reference_id": client_reference_id,
            }
            if trial_days:
                params["subscription_data"] = {"trial_period_days": trial_days}
            session = checkout.create(self.store, params)
            checkout.pay(self.store, session, customer_email, "4242424242424242")
            caused = list(self.store.collections["events"].values())[before:]
            return {
                "checkout_session": checkout.public(copy.deepcopy(session)),
                "customer": copy.deepcopy(self.store.get("customers", session["customer"])),
                "subscription": copy.deepcopy(self.store.get("subscriptions", session["subscription"])),
                "events": [e["id"] for e in caused],
            }

    def fail_payment(self, subscription_id: str) -> dict:
        with self.lock:
            sub = self.store.get("subscriptions", subscription_id)
            return copy.deepcopy(billing.fail_payment(self.store, sub, self.clock.now()))

    def stop(self) -> None:
        self.dispatcher.stop()
