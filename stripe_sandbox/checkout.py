"""Checkout Sessions in subscription mode, and paying them."""

from . import billing, customers, ids, objects
from .errors import ApiError
from .store import Store


def create(store: Store, params: dict) -> dict:
    if params.get("customer") and params.get("customer_email"):
        raise ApiError(
            "You may only specify one of these parameters: customer, customer_email.", param="customer_email"
        )
    if params.get("customer"):
        store.get("customers", params["customer"], param="customer")
    _check_line_items(store, params["line_items"])
    session = objects.checkout_session(store.clock.now(), params, lambda sid: store.url(f"/c/pay/{sid}"))
    session["line_items_params"] = [{**item, "id": ids.new_id("li")} for item in params["line_items"]]
    session["subscription_data"] = params.get("subscription_data") or {}
    _set_amounts(store, session)
    return store.add("checkout_sessions", session)


def _check_line_items(store: Store, items: list[dict]) -> None:
    if not items:
        raise ApiError("Missing required param: line_items.", param="line_items")
    for index, item in enumerate(items):
        param = f"line_items[{index}][price]"
        if "price" not in item:
            raise ApiError(f"Missing required param: {param}.", param=param)
        price = store.get("prices", item["price"], param=param)
        if price["type"] != "recurring":
            raise ApiError(
                "You must provide at least one recurring price in `subscription` mode when using prices.", param=param
            )


def _set_amounts(store: Store, session: dict) -> None:
    total = sum(price["unit_amount"] * qty for price, qty in lines(store, session))
    trial = session["subscription_data"].get("trial_period_days")
    session["amount_subtotal"] = session["amount_total"] = 0 if trial else total


def lines(store: Store, session: dict) -> list[tuple[dict, int]]:
    return [(store.get("prices", item["price"]), item.get("quantity", 1)) for item in session["line_items_params"]]


def line_items(store: Store, session: dict) -> dict:
    """What ``expand[]=line_items`` shows: one entry per price bought."""
    data = []
    for item in session["line_items_params"]:
        price = store.get("prices", item["price"])
        quantity = item.get("quantity", 1)
        amount = price["unit_amount"] * quantity
        data.append(
            {
                "id": item["id"],
                "object": "item",
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": price["currency"],
                "description": store.get("products", price["product"])["name"],
                "price": dict(price),
                "quantity": quantity,
            }
        )
    return objects.list_object(data, f"/v1/checkout/sessions/{session['id']}/line_items")


def public(session: dict) -> dict:
    """The session as the API shows it, without sandbox bookkeeping."""
    return {k: v for k, v in session.items() if k not in ("line_items_params", "subscription_data")}


def pay(store: Store, session: dict, email: str | None, card: str) -> dict:
    """Pay with a test card: customer, subscription, then completion.

    Raises ``customers.CardDeclined`` before anything changes.
    """
    if session["status"] != "open":
        raise ApiError(f"This Checkout Session is {session['status']}.")
    customers.check_card(card)
    cust = _customer_for(store, session, email)
    pm = customers.attach_card(store, cust, card)
    data = session["subscription_data"]
    sub = billing.start(
        store,
        cust["id"],
        lines(store, session),
        store.clock.now(),
        trial_days=data.get("trial_period_days"),
        metadata=data.get("metadata"),
        payment_method=pm["id"],
    )
    _complete(store, session, cust, sub)
    return session


def _customer_for(store: Store, session: dict, email: str | None) -> dict:
    if session["customer"]:
        return store.get("customers", session["customer"])
    cust = customers.create(store, email=session["customer_email"] or email)
    session["customer"] = cust["id"]
    return cust


def _complete(store: Store, session: dict, cust: dict, sub: dict) -> None:
    # A trial charges nothing today, which Stripe reports as no_payment_required.
    paid = "no_payment_required" if sub["status"] == "trialing" else "paid"
    session.update(status="complete", payment_status=paid, subscription=sub["id"], invoice=None, url=None)
    session["customer_details"] = {
        "address": None,
        "email": cust["email"],
        "name": cust["name"],
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    store.emit("checkout.session.completed", public(session))


def expire(store: Store, session: dict, at: int) -> None:
    session.update(status="expired", url=None)
    store.emit("checkout.session.expired", public(session), at=at)
