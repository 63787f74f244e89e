"""The ``/v1`` routes that write the catalogue: products and prices (reads live in ``api``)."""

import copy

from . import ids, objects
from .api_support import bp, one, route
from .customers import merge_metadata
from .errors import invalid
from .params import EXPAND, Bool, Int, Map, Obj, Str

__all__ = ["bp"]

INTERVALS = ("day", "week", "month", "year")


@route(
    "/products",
    "POST",
    {"id": Str(), "name": Str(required=True), "active": Bool(), "description": Str(), "metadata": Map()},
)
def create_product(store, p):
    product_id = p.get("id") or ids.new_id("prod", 14)
    if product_id in store.collections["products"]:
        raise invalid(f"Product already exists: '{product_id}'", "id")
    product = objects.product(product_id, _named(p["name"]), store.clock.now(), None)
    product.update(active=p.get("active", True), description=p.get("description"), metadata=p.get("metadata", {}))
    store.add("products", product)
    store.emit("product.created", product)
    return product


@route(
    "/products/<pid>",
    "POST",
    {"name": Str(), "active": Bool(), "description": Str(), "metadata": Map(), "expand": EXPAND},
)
def update_product(store, p, pid):
    product = store.get("products", pid)
    changes = {k: p[k] for k in ("active", "description") if k in p}
    if "name" in p:
        changes["name"] = _named(p["name"])
    if "metadata" in p:
        changes["metadata"] = merge_metadata(product["metadata"], p["metadata"])
    _change(store, "product.updated", product, changes)
    return one(store, product, p, ("default_price",))


PRICE_FIELDS = {
    "lookup_key": Str(),
    "transfer_lookup_key": Bool(),
    "nickname": Str(),
    "metadata": Map(),
    "active": Bool(),
    "expand": EXPAND,
}


@route(
    "/prices",
    "POST",
    {
        **PRICE_FIELDS,
        "product": Str(required=True),
        "unit_amount": Int(required=True, minimum=0, maximum=99_999_999),
        "currency": Str(required=True),
        "recurring": Obj(
            required=True,
            fields={"interval": Str(required=True, enum=INTERVALS), "interval_count": Int(minimum=1, maximum=365)},
        ),
    },
)
def create_price(store, p):
    product = store.get("products", p["product"], "product")
    plan = {
        "lookup_key": None,
        "amount": p["unit_amount"],
        "currency": p["currency"].lower(),
        "interval": p["recurring"]["interval"],
        "interval_count": p["recurring"].get("interval_count", 1),
        "nickname": p.get("nickname"),
    }
    price = objects.price(ids.new_id("price", 24), product["id"], plan, store.clock.now())
    price.update(active=p.get("active", True), metadata=p.get("metadata", {}))
    _take_lookup_key(store, price, p)
    store.add("prices", price)
    if product["default_price"] is None:
        product["default_price"] = price["id"]
    store.emit("price.created", price)
    return one(store, price, p, ("product",))


@route("/prices/<pid>", "POST", PRICE_FIELDS)
def update_price(store, p, pid):
    price = store.get("prices", pid)
    changes = {k: p[k] for k in ("active", "nickname") if k in p}
    if "metadata" in p:
        changes["metadata"] = merge_metadata(price["metadata"], p["metadata"])
    previous_key = price["lookup_key"]
    _take_lookup_key(store, price, p)
    if price["lookup_key"] != previous_key:
        changes["lookup_key"] = price["lookup_key"]
        price["lookup_key"] = previous_key
    _change(store, "price.updated", price, changes)
    return one(store, price, p, ("product",))


def _take_lookup_key(store, price: dict, p: dict) -> None:
    """Give ``price`` the requested lookup key; another price holding it must give it up by request."""
    key = p.get("lookup_key")
    if key is None:
        return
    if len(key) > 200:
        raise invalid("lookup_key must be at most 200 characters long.", "lookup_key")
    holder = next((o for o in store.all("prices") if o["lookup_key"] == key and o["id"] != price["id"]), None)
    if holder is not None and not p.get("transfer_lookup_key"):
        raise invalid(
            f"A price ({holder['id']}) already uses that lookup key. "
            "Pass transfer_lookup_key=true to move it to this price.",
            "lookup_key",
        )
    if holder is not None:
        _change(store, "price.updated", holder, {"lookup_key": None})
    price["lookup_key"] = key or None


def _change(store, event_type: str, obj: dict, changes: dict) -> None:
    previous = {k: copy.deepcopy(obj[k]) for k, v in changes.items() if obj[k] != v}
    if not previous:
        return
    obj.update(changes)
    if "updated" in obj:  # products carry it, prices do not
        obj["updated"] = store.clock.now()
    store.emit(event_type, obj, previous)


def _named(name: str) -> str:
    if not name.strip():
        raise invalid("name must not be empty.", "name")
    return name
