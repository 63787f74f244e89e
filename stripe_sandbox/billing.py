"""Subscription and invoice lifecycle, emitting events in Stripe's order.

Every function expects the caller to hold ``store.lock`` and takes ``at``
(sandbox seconds) so clock advances can replay boundaries at their time.
"""

import copy
from collections.abc import Sequence

from . import ids, objects
from .errors import invalid
from .periods import DAY, period_after
from .store import Store


# -- invoices --------------------------------------------------------------
def _new_invoice(store: Store, sub: dict, reason: str, at: int) -> dict:
    cust = store.get("customers", sub["customer"])
    invoice_id = ids.new_id("in")
    sequence = store.invoice_numbers.get(cust["id"], 0) + 1
    store.invoice_numbers[cust["id"]] = sequence
    cust["next_invoice_sequence"] = sequence + 1
    urls = (store.url(f"/i/{invoice_id}"), store.url(f"/i/{invoice_id}/pdf"))
    number = f"{cust['invoice_prefix']}-{sequence:04d}"
    inv = objects.invoice(invoice_id, cust, sub, at, reason, number, urls)
    inv["default_payment_method"] = sub["default_payment_method"]
    return store.add("invoices", inv)


def _add_line(inv: dict, sub: dict, item: dict, amount: int, period: tuple[int, int], proration: bool = False) -> None:
    line = objects.invoice_line(inv["id"], sub, item, amount, *period, proration)
    inv["lines"]["data"].append(line)
    inv["period_start"], inv["period_end"] = period
    total = sum(line["amount"] for line in inv["lines"]["data"])
    due = max(total, 0)
    inv.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        amount_due=due,
        amount_remaining=due,
    )


def _finalize(store: Store, inv: dict, at: int) -> None:
    inv["status"] = "open"
    inv["effective_at"] = at
    inv["status_transitions"]["finalized_at"] = at
    store.emit("invoice.created", inv, at=at)
    store.emit("invoice.finalized", inv, at=at)


def _pay(store: Store, inv: dict, at: int) -> None:
    inv.update(
        status="paid",
        amount_paid=inv["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=inv["attempt_count"] + 1,
        next_payment_attempt=None,
    )
    inv["status_transitions"]["paid_at"] = at
    store.emit("invoice.paid", inv, at=at)
    store.emit("invoice.payment_succeeded", inv, at=at)


def _bill_items(store: Store, sub: dict, reason: str, at: int) -> dict:
    """A draft invoice for each item's current period (0 while trialing)."""
    inv = _new_invoice(store, sub, reason, at)
    for item in sub["items"]["data"]:
        amount = 0 if sub["status"] == "trialing" or _in_trial(sub, at) else _item_amount(item)
        period = (item["current_period_start"], item["current_period_end"])
        _add_line(inv, sub, item, amount, period)
    sub["latest_invoice"] = inv["id"]
    return inv


def _item_amount(item: dict) -> int:
    return item["price"]["unit_amount"] * item["quantity"]


def _in_trial(sub: dict, at: int) -> bool:
    return sub["trial_end"] is not None and at < sub["trial_end"]


# -- creating --------------------------------------------------------------
def start(
    store: Store,
    customer_id: str,
    lines: list[tuple[dict, int]],
    at: int,
    trial_days: int | None = None,
    metadata: dict | None = None,
    payment_method: str | None = None,
) -> dict:
    """Create, bill and activate a subscription, as a paid Checkout does."""
    sub = objects.subscription(ids.new_id("sub"), customer_id, at, metadata or {})
    sub["default_payment_method"] = payment_method
    sub["currency"] = lines[0][0]["currency"]
    if trial_days:
        sub["trial_start"], sub["trial_end"] = at, at + trial_days * DAY
    for price, quantity in lines:
        end = sub["trial_end"] or period_after(at, price)
        sub["items"]["data"].append(objects.subscription_item(sub["id"], price, quantity, at, end))
    store.add("subscriptions", sub)
    inv = _bill_items(store, sub, "subscription_create", at)
    store.emit("customer.subscription.created", sub, at=at)
    _finalize(store, inv, at)
    _pay(store, inv, at)
    sub["status"] = "trialing" if trial_days else "active"
    store.emit("customer.subscription.updated", sub, {"status": "incomplete"}, at=at)
    return sub


# -- changing --------------------------------------------------------------
def update(
    store: Store,
    sub: dict,
    at: int,
    changes: dict | None = None,
    swaps: Sequence[tuple[str, dict, int | None]] = (),
    proration_behavior: str = "create_prorations",
) -> dict:
    """Apply field changes and price swaps as one ``customer.subscription.updated``.

    ``swaps`` holds ``(item id, new price, new quantity or None)``; with
    ``always_invoice`` the proration is billed and paid right away.
    """
    if swaps or set(changes or {}) - {"metadata", "cancellation_details"}:
        _refuse_if_ended(sub)
    before = copy.deepcopy(sub)
    olds = _swap(sub, swaps)
    sub.update(copy.deepcopy(changes or {}))
    bill_now = bool(olds) and proration_behavior == "always_invoice"
    inv = _proration_invoice(store, sub, olds, at) if bill_now else None
    previous = {k: v for k, v in before.items() if sub[k] != v}
    if previous:
        store.emit("customer.subscription.updated", sub, previous, at=at)
    if inv is not None:
        _finalize(store, inv, at)
        _pay(store, inv, at)
    return sub


def _swap(sub: dict, swaps) -> list[dict]:
    """Change items in place; returns copies of the items as they were."""
    # Look every item up first so an unknown id changes nothing.
    items = [_item(sub, item_id) for item_id, _, _ in swaps]
    olds = []
    for item, (_, price, quantity) in zip(items, swaps, strict=True):
        old = copy.deepcopy(item)
        if price is not None:
            item["price"], item["plan"] = dict(price), objects.plan_from_price(price)
        if quantity is not None:
            item["quantity"] = quantity
        if item != old:
            olds.append(old)
    return olds


def _proration_invoice(store: Store, sub: dict, olds: list[dict], at: int) -> dict:
    inv = _new_invoice(store, sub, "subscription_update", at)
    for old in olds:
        item = _item(sub, old["id"])
        start, end = item["current_period_start"], item["current_period_end"]
        share = max(end - at, 0) / max(end - start, 1)
        period = (at, end)
        _add_line(inv, sub, old, -round(_item_amount(old) * share), period, proration=True)
        _add_line(inv, sub, item, round(_item_amount(item) * share), period, proration=True)
    sub["latest_invoice"] = inv["id"]
    return inv


def _item(sub: dict, item_id: str) -> dict:
    for item in sub["items"]["data"]:
        if item["id"] == item_id:
            return item
    raise invalid(f"No such subscription item: '{item_id}'", "items")


def _refuse_if_ended(sub: dict) -> None:
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(
            f"A canceled subscription can only update its cancellation_details "
            f"and metadata. (subscription: {sub['id']})"
        )


def cancel_changes(
    sub: dict, at: int, cancel_at: int | None = None, feedback: str | None = None, comment: str | None = None
) -> dict:
    """Fields for a cancellation at period end (or at ``cancel_at``)."""
    period_end = min(i["current_period_end"] for i in sub["items"]["data"])
    target = period_end if cancel_at is None else cancel_at
    return {
        "cancel_at_period_end": target == period_end,
        "cancel_at": target,
        "canceled_at": at,
        "cancellation_details": {"comment": comment, "feedback": feedback, "reason": "cancellation_requested"},
    }


def uncancel_changes() -> dict:
    return {
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
    }


def schedule_cancel(store: Store, sub: dict, at: int, **details) -> dict:
    return update(store, sub, at, cancel_changes(sub, at, **details))


def undo_cancel(store: Store, sub: dict, at: int) -> dict:
    return update(store, sub, at, uncancel_changes())


def cancel_now(store: Store, sub: dict, at: int, feedback: str | None = None, comment: str | None = None) -> dict:
    if sub["status"] == "canceled":
        raise invalid(f"This subscription has already been canceled: {sub['id']}")
    details = {"comment": comment, "feedback": feedback, "reason": "cancellation_requested"}
    _end(sub, at, at, details)
    store.emit("customer.subscription.deleted", sub, at=at)
    return sub


def _end(sub: dict, at: int, canceled_at: int, details: dict) -> None:
    # Item periods stay as they were, as Stripe leaves them on a canceled subscription.
    sub.update(
        status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or canceled_at, cancellation_details=details
    )


# -- payments failing and recovering --------------------------------------
def fail_payment(store: Store, sub: dict, at: int) -> dict:
    """An open invoice that could not be paid; the subscription goes past_due."""
    _refuse_if_ended(sub)
    previous = {"latest_invoice": sub["latest_invoice"]}
    inv = _bill_items(store, sub, "subscription_cycle", at)
    _finalize(store, inv, at)
    inv.update(attempted=True, attempt_count=1, next_payment_attempt=at + 3 * DAY)
    store.emit("invoice.payment_failed", inv, at=at)
    if sub["status"] != "past_due":
        previous["status"] = sub["status"]
        sub["status"] = "past_due"
    store.emit("customer.subscription.updated", sub, previous, at=at)
    return inv


def pay_open_invoices(store: Store, customer_id: str, at: int) -> None:
    """After a card update, settle what was owed and revive the subscription."""
    for inv in store.all("invoices")[::-1]:
        if inv["customer"] == customer_id and inv["status"] == "open":
            _pay(store, inv, at)
            sub = store.get("subscriptions", inv["parent"]["subscription_details"]["subscription"])
            if sub["status"] in ("past_due", "unpaid"):
                update(store, sub, at, {"status": "active"})


# -- time passing ----------------------------------------------------------
TRIAL_NOTICE_SECONDS = 3 * DAY  # Stripe warns three days before a trial ends


def next_boundary(store: Store, sub: dict) -> int | None:
    """When this subscription next renews, ends, or hears its trial is ending."""
    if sub["status"] in ("canceled", "incomplete", "incomplete_expired"):
        return None
    candidates = [] if sub["cancel_at"] is None else [sub["cancel_at"]]
    if sub["status"] in ("active", "trialing"):  # past_due waits for a new card
        candidates.append(min(i["current_period_end"] for i in sub["items"]["data"]))
    if _trial_notice_due(store, sub):
        candidates.append(sub["trial_end"] - TRIAL_NOTICE_SECONDS)
    return min(candidates, default=None)


def _trial_notice_due(store: Store, sub: dict) -> bool:
    return sub["status"] == "trialing" and sub["id"] not in store.trial_notices


def cross_boundary(store: Store, sub: dict, at: int) -> None:
    """Warn of a trial's end, end the subscription, or renew it, at ``at``."""
    if _trial_notice_due(store, sub) and at < sub["trial_end"]:
        store.trial_notices.add(sub["id"])
        # A trial shorter than the notice period is warned about right away.
        store.emit("customer.subscription.trial_will_end", sub, at=max(at, sub["trial_start"] or at))
        return
    if sub["cancel_at"] is not None and sub["cancel_at"] <= at:
        _end(sub, at, at, sub["cancellation_details"])
        store.emit("customer.subscription.deleted", sub, at=at)
        return
    renew(store, sub, at)


def renew(store: Store, sub: dict, at: int) -> None:
    previous = {"items": copy.deepcopy(sub["items"]), "latest_invoice": sub["latest_invoice"]}
    if sub["status"] == "trialing":
        previous["status"] = "trialing"
        sub["status"] = "active"
    for item in sub["items"]["data"]:
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = period_after(start, item["price"])
    inv = _bill_items(store, sub, "subscription_cycle", at)
    store.emit("customer.subscription.updated", sub, previous, at=at)
    _finalize(store, inv, at)
    _pay(store, inv, at)
