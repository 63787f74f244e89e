"""The ``/v1`` routes for customers, the catalogue, Checkout and events.

Routes parse, call the domain modules, and answer; ``api_billing`` holds the
portal, subscription and invoice routes on the same blueprint.
"""

from . import checkout, customers
from .api_support import bp, one, page, route
from .params import EXPAND, PAGING, Arr, Bool, Int, Map, Obj, Range, Str

__all__ = ["bp"]


# -- customers ------------------------------------------------------------------
CUSTOMER_EXPAND = (
    "invoice_settings.default_payment_method",
    "subscriptions",
    "subscriptions.data.items.data.price.product",
)
CUSTOMER_FIELDS = {"email": Str(), "name": Str(), "metadata": Map(), "expand": EXPAND}


@route("/customers", "POST", CUSTOMER_FIELDS)
def create_customer(store, p):
    cust = customers.create(store, p.get("email"), p.get("name"), p.get("metadata"))
    return one(store, cust, p, CUSTOMER_EXPAND, _customer_virtual(store))


@route("/customers/<cid>", "GET", {"expand": EXPAND})
def retrieve_customer(store, p, cid):
    return one(store, store.get("customers", cid), p, CUSTOMER_EXPAND, _customer_virtual(store))


@route(
    "/customers/<cid>", "POST", {**CUSTOMER_FIELDS, "invoice_settings": Obj(fields={"default_payment_method": Str()})}
)
def update_customer(store, p, cid):
    cust = customers.update(store, store.get("customers", cid), p)
    return one(store, cust, p, CUSTOMER_EXPAND, _customer_virtual(store))


def _customer_virtual(store) -> dict:
    return {"subscriptions": lambda cust: customers.live_subscriptions(store, cust)}


@route("/customers", "GET", {**PAGING, "email": Str()})
def list_customers(store, p):
    found = [c for c in store.all("customers") if p.get("email") in (None, c["email"])]
    return page(store, found, p, "/v1/customers")


@route("/customers/<cid>", "DELETE", {})
def delete_customer(store, p, cid):
    return customers.delete(store, store.get("customers", cid))


@route("/payment_methods/<pid>", "GET", {"expand": EXPAND})
def retrieve_payment_method(store, p, pid):
    return one(store, store.get("payment_methods", pid), p, ("customer",))


# -- catalogue ------------------------------------------------------------------
@route("/products/<pid>", "GET", {"expand": EXPAND})
def retrieve_product(store, p, pid):
    return one(store, store.get("products", pid), p, ("default_price",))


@route("/products", "GET", {**PAGING, "active": Bool(), "ids": Arr()})
def list_products(store, p):
    found = [
        o
        for o in store.all("products")
        if p.get("active") in (None, o["active"]) and o["id"] in p.get("ids", [o["id"]])
    ]
    return page(store, found, p, "/v1/products")


@route("/prices/<pid>", "GET", {"expand": EXPAND})
def retrieve_price(store, p, pid):
    return one(store, store.get("prices", pid), p, ("product",))


@route(
    "/prices",
    "GET",
    {**PAGING, "active": Bool(), "product": Str(), "lookup_keys": Arr(), "type": Str(enum=("one_time", "recurring"))},
)
def list_prices(store, p):
    def wanted(o):
        return (
            p.get("active") in (None, o["active"])
            and p.get("product") in (None, o["product"])
            and p.get("type") in (None, o["type"])
            and ("lookup_keys" not in p or o["lookup_key"] in p["lookup_keys"])
        )

    return page(store, [o for o in store.all("prices") if wanted(o)], p, "/v1/prices", ("data.product",))


# -- checkout -------------------------------------------------------------------
CHECKOUT_FIELDS = {
    "mode": Str(required=True, enum=("subscription",)),
    "line_items": Arr(required=True, item=Obj(fields={"price": Str(required=True), "quantity": Int(minimum=1)})),
    "success_url": Str(required=True),
    "cancel_url": Str(),
    "client_reference_id": Str(),
    "customer": Str(),
    "customer_email": Str(),
    "subscription_data": Obj(fields={"trial_period_days": Int(minimum=1, maximum=730), "metadata": Map()}),
    "metadata": Map(),
    "allow_promotion_codes": Bool(),
    "locale": Str(),
    "expand": EXPAND,
}
CHECKOUT_EXPAND = (
    "subscription",
    "customer",
    "line_items",
    "line_items.data.price.product",
    "subscription.items.data.price.product",
    "subscription.latest_invoice",
    "subscription.default_payment_method",
)


@route("/checkout/sessions", "POST", CHECKOUT_FIELDS)
def create_checkout_session(store, p):
    session = checkout.create(store, p)
    return one(
        store,
        checkout.public(session),
        p,
        CHECKOUT_EXPAND,
        {"line_items": lambda _: checkout.line_items(store, session)},
    )


@route("/checkout/sessions/<sid>", "GET", {"expand": EXPAND})
def retrieve_checkout_session(store, p, sid):
    session = store.get("checkout_sessions", sid)
    return one(
        store,
        checkout.public(session),
        p,
        CHECKOUT_EXPAND,
        {"line_items": lambda _: checkout.line_items(store, session)},
    )


# -- events ---------------------------------------------------------------------
@route("/events/<eid>", "GET", {"expand": EXPAND})
def retrieve_event(store, p, eid):
    return store.event_view(store.get("events", eid))


@route("/events", "GET", {**PAGING, "type": Str(), "types": Arr(), "created": Range(), "delivery_success": Bool()})
def list_events(store, p):
    found = [e for e in store.all("events") if _event_matches(store, e, p)]
    return store.page(found, p, "/v1/events", view=store.event_view)


def _event_matches(store, event: dict, p: dict) -> bool:
    if "type" in p and not _type_matches(event["type"], p["type"]):
        return False
    if "types" in p and event["type"] not in p["types"]:
        return False
    if "delivery_success" in p and (store.dispatcher.delivery_success(event["id"]) != p["delivery_success"]):
        return False
    return _in_range(event["created"], p.get("created") or {})


def _type_matches(actual: str, pattern: str) -> bool:
    # Stripe accepts one trailing wildcard, e.g. customer.subscription.*
    if pattern.endswith("*"):
        return actual.startswith(pattern[:-1])
    return actual == pattern


def _in_range(value: int, bounds: dict) -> bool:
    checks = {
        "gt": value > bounds.get("gt", value - 1),
        "gte": value >= bounds.get("gte", value),
        "lt": value < bounds.get("lt", value + 1),
        "lte": value <= bounds.get("lte", value),
    }
    return all(checks.values())
