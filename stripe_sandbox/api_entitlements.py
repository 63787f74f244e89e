"""The ``/v1`` routes for entitlements: features, product features, active entitlements."""

from . import entitlements
from .api_support import bp, one, route
from .errors import ApiError, invalid
from .params import EXPAND, PAGING, Bool, Map, Str

__all__ = ["bp"]

LOOKUP_KEY = Str(required=True)


@route(
    "/entitlements/features",
    "POST",
    {"lookup_key": LOOKUP_KEY, "name": Str(required=True), "metadata": Map(), "expand": EXPAND},
)
def create_feature(store, p):
    _check_length(p["lookup_key"], 80, "lookup_key")
    _check_length(p["name"], 80, "name")
    return entitlements.create_feature(store, p["lookup_key"], p["name"], p.get("metadata"))


@route("/entitlements/features/<fid>", "GET", {"expand": EXPAND})
def retrieve_feature(store, p, fid):
    return one(store, store.get("features", fid), p)


@route(
    "/entitlements/features/<fid>",
    "POST",
    {"name": Str(), "active": Bool(), "metadata": Map(), "expand": EXPAND},
)
def update_feature(store, p, fid):
    if "name" in p:
        _check_length(p["name"], 80, "name")
    return entitlements.update_feature(store, store.get("features", fid), p)


@route("/entitlements/features", "GET", {**PAGING, "archived": Bool(), "lookup_key": Str()})
def list_features(store, p):
    def wanted(f):
        archived_ok = "archived" not in p or p["archived"] == (not f["active"])
        return archived_ok and p.get("lookup_key") in (None, f["lookup_key"])

    return store.page([f for f in store.all("features") if wanted(f)], p, "/v1/entitlements/features")


@route("/products/<pid>/features", "POST", {"entitlement_feature": Str(required=True), "expand": EXPAND})
def attach_feature(store, p, pid):
    attachment = entitlements.attach(store, store.get("products", pid), p["entitlement_feature"])
    return entitlements.product_feature_view(store, attachment)


@route("/products/<pid>/features", "GET", PAGING)
def list_product_features(store, p, pid):
    store.get("products", pid)
    found = entitlements.product_features(store, pid)[::-1]
    return store.page(
        found, p, f"/v1/products/{pid}/features", view=lambda a: entitlements.product_feature_view(store, a)
    )


@route("/products/<pid>/features/<aid>", "GET", {"expand": EXPAND})
def retrieve_product_feature(store, p, pid, aid):
    return entitlements.product_feature_view(store, entitlements.owned_attachment(store, pid, aid))


@route("/products/<pid>/features/<aid>", "DELETE", {})
def detach_feature(store, p, pid, aid):
    return entitlements.detach(store, entitlements.owned_attachment(store, pid, aid))


@route("/entitlements/active_entitlements", "GET", {**PAGING, "customer": Str(required=True)})
def list_active_entitlements(store, p):
    store.get("customers", p["customer"], "customer")
    found = entitlements.active_entitlements(store, p["customer"])
    return store.page(found, p, entitlements.LIST_URL, view=_entitlement_view(store, p))


@route("/entitlements/active_entitlements/<eid>", "GET", {"expand": EXPAND})
def retrieve_active_entitlement(store, p, eid):
    return _entitlement_view(store, p)(store.get("active_entitlements", eid))


def _entitlement_view(store, p):
    paths = [path.removeprefix("data.") for path in p.get("expand", [])]
    if any(path != "feature" for path in paths):
        raise ApiError(f"This property cannot be expanded ({p['expand'][0]}).", param="expand")

    def view(entitlement):
        return store.expand(entitlements.entitlement_view(entitlement), paths)

    return view


def _check_length(value: str, limit: int, param: str) -> None:
    if not value or len(value) > limit:
        raise invalid(f"{param} must be 1 to {limit} characters long.", param)
