"""The ``/v1`` routes for the portal, subscriptions and invoices."""

from . import billing, customers, portal
from .api_support import one, page, route
from .errors import ApiError
from .params import EXPAND, PAGING, Arr, Bool, Int, IntOrEmpty, Map, Obj, Str

# -- customer portal ------------------------------------------------------------
AFTER_COMPLETION = Obj(
    fields={
        "type": Str(required=True, enum=("hosted_confirmation", "portal_homepage", "redirect")),
        "redirect": Obj(fields={"return_url": Str(required=True)}),
        "hosted_confirmation": Obj(fields={"custom_message": Str()}),
    }
)
ONE_SUBSCRIPTION = Obj(fields={"subscription": Str(required=True)})
FLOW_DATA = Obj(
    fields={
        "type": Str(
            required=True,
            enum=("payment_method_update", "subscription_cancel", "subscription_update", "subscription_update_confirm"),
        ),
        "after_completion": AFTER_COMPLETION,
        "subscription_cancel": Obj(fields={"subscription": Str(required=True), "retention": Obj(fields={})}),
        "subscription_update": ONE_SUBSCRIPTION,
        "subscription_update_confirm": Obj(
            fields={
                "subscription": Str(required=True),
                "items": Arr(
                    required=True,
                    item=Obj(fields={"id": Str(required=True), "price": Str(), "quantity": Int(minimum=1)}),
                ),
                "discounts": Arr(item=Obj(fields={"coupon": Str(), "promotion_code": Str()})),
            }
        ),
    }
)


@route(
    "/billing_portal/sessions",
    "POST",
    {
        "customer": Str(required=True),
        "return_url": Str(),
        "configuration": Str(),
        "locale": Str(),
        "flow_data": FLOW_DATA,
        "on_behalf_of": Str(),
        "expand": EXPAND,
    },
)
def create_portal_session(store, p):
    return one(store, portal.create_session(store, p), p, ("configuration",))


CANCEL_REASONS = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)
PRORATIONS = ("always_invoice", "create_prorations", "none")
FEATURES = Obj(
    fields={
        "customer_update": Obj(
            fields={
                "enabled": Bool(),
                "allowed_updates": Arr(item=Str(enum=("address", "email", "name", "phone", "shipping", "tax_id"))),
            }
        ),
        "invoice_history": Obj(fields={"enabled": Bool(required=True)}),
        "payment_method_update": Obj(fields={"enabled": Bool(required=True)}),
        "subscription_cancel": Obj(
            fields={
                "enabled": Bool(),
                "mode": Str(enum=("at_period_end", "immediately")),
                "proration_behavior": Str(enum=PRORATIONS),
                "cancellation_reason": Obj(
                    fields={"enabled": Bool(required=True), "options": Arr(item=Str(enum=CANCEL_REASONS))}
                ),
            }
        ),
        "subscription_update": Obj(
            fields={
                "enabled": Bool(),
                "proration_behavior": Str(enum=PRORATIONS),
                "default_allowed_updates": Arr(item=Str(enum=("price", "promotion_code", "quantity"))),
                "products": Arr(item=Obj(fields={"product": Str(required=True), "prices": Arr(required=True)})),
            }
        ),
    }
)
CONFIG_FIELDS = {
    "business_profile": Obj(fields={"headline": Str(), "privacy_policy_url": Str(), "terms_of_service_url": Str()}),
    "default_return_url": Str(),
    "features": FEATURES,
    "metadata": Map(),
    "name": Str(),
    "expand": EXPAND,
}


@route(
    "/billing_portal/configurations", "POST", {**CONFIG_FIELDS, "features": Obj(required=True, fields=FEATURES.fields)}
)
def create_portal_configuration(store, p):
    return portal.create_configuration(store, p)


@route("/billing_portal/configurations/<cid>", "POST", {**CONFIG_FIELDS, "active": Bool()})
def update_portal_configuration(store, p, cid):
    cfg = store.get("portal_configurations", cid)
    return portal.update_configuration(store, cfg, p)


@route("/billing_portal/configurations/<cid>", "GET", {"expand": EXPAND})
def retrieve_portal_configuration(store, p, cid):
    return one(store, store.get("portal_configurations", cid), p)


@route("/billing_portal/configurations", "GET", {**PAGING, "is_default": Bool(), "active": Bool()})
def list_portal_configurations(store, p):
    found = [
        c
        for c in store.all("portal_configurations")
        if p.get("is_default") in (None, c["is_default"]) and p.get("active") in (None, c["active"])
    ]
    return page(store, found, p, "/v1/billing_portal/configurations")


# -- subscriptions --------------------------------------------------------------
SUB_EXPAND = ("customer", "latest_invoice", "default_payment_method", "items.data.price.product")
SUB_STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)


@route("/subscriptions/<sid>", "GET", {"expand": EXPAND})
def retrieve_subscription(store, p, sid):
    return one(store, store.get("subscriptions", sid), p, SUB_EXPAND)


@route("/subscriptions", "GET", {**PAGING, "customer": Str(), "price": Str(), "status": Str(enum=SUB_STATUSES)})
def list_subscriptions(store, p):
    status = p.get("status")

    def wanted(s):
        prices = [i["price"]["id"] for i in s["items"]["data"]]
        return (
            p.get("customer") in (None, s["customer"])
            and ("price" not in p or p["price"] in prices)
            and _status_matches(s["status"], status)
        )

    found = [s for s in store.all("subscriptions") if wanted(s)]
    return page(store, found, p, "/v1/subscriptions", tuple(f"data.{e}" for e in SUB_EXPAND))


def _status_matches(actual: str, wanted: str | None) -> bool:
    if wanted is None:  # Stripe's default list leaves canceled ones out.
        return actual != "canceled"
    if wanted == "all":
        return True
    if wanted == "ended":
        return actual in ("canceled", "incomplete_expired")
    return actual == wanted


@route(
    "/subscriptions/<sid>",
    "POST",
    {
        "cancel_at_period_end": Bool(),
        "cancel_at": IntOrEmpty(),
        "items": Arr(item=Obj(fields={"id": Str(), "price": Str(), "quantity": Int(minimum=0)})),
        "proration_behavior": Str(enum=PRORATIONS),
        "metadata": Map(),
        "cancellation_details": Obj(fields={"comment": Str(), "feedback": Str(enum=CANCEL_REASONS)}),
        "default_payment_method": Str(),
        "expand": EXPAND,
    },
)
def update_subscription(store, p, sid):
    sub = store.get("subscriptions", sid)
    now = store.clock.now()
    changes = _subscription_changes(store, sub, p, now)
    swaps = _swaps(store, p.get("items", []))
    billing.update(store, sub, now, changes, swaps, p.get("proration_behavior", "create_prorations"))
    return one(store, sub, p, SUB_EXPAND)


def _subscription_changes(store, sub: dict, p: dict, now: int) -> dict:
    changes: dict = {}
    details = p.get("cancellation_details") or {}
    if p.get("cancel_at_period_end") is True and not sub["cancel_at_period_end"]:
        changes.update(billing.cancel_changes(sub, now, **details))
    elif p.get("cancel_at_period_end") is False and sub["cancel_at"] is not None:
        changes.update(billing.uncancel_changes())
    if "cancel_at" in p:
        changes.update(
            billing.uncancel_changes()
            if p["cancel_at"] is None
            else billing.cancel_changes(sub, now, p["cancel_at"], **details)
        )
    if "metadata" in p:
        changes["metadata"] = customers.merge_metadata(sub["metadata"], p["metadata"])
    if "default_payment_method" in p:
        changes["default_payment_method"] = _payment_method_of(store, sub, p)
    return changes


def _payment_method_of(store, sub: dict, p: dict) -> str | None:
    pm_id = p["default_payment_method"]
    if pm_id:
        pm = store.get("payment_methods", pm_id, param="default_payment_method")
        if pm["customer"] != sub["customer"]:
            raise ApiError("The payment method must be attached to the customer.", param="default_payment_method")
    return pm_id or None


def _swaps(store, items: list[dict]) -> list[tuple]:
    swaps = []
    for index, item in enumerate(items):
        if "id" not in item:
            raise ApiError(
                f"The sandbox only changes existing items: pass items[{index}][id].", param=f"items[{index}][id]"
            )
        price = store.get("prices", item["price"], param=f"items[{index}][price]") if "price" in item else None
        swaps.append((item["id"], price, item.get("quantity")))
    return swaps


@route(
    "/subscriptions/<sid>",
    "DELETE",
    {
        "invoice_now": Bool(),
        "prorate": Bool(),
        "expand": EXPAND,
        "cancellation_details": Obj(fields={"comment": Str(), "feedback": Str(enum=CANCEL_REASONS)}),
    },
)
def cancel_subscription(store, p, sid):
    sub = store.get("subscriptions", sid)
    billing.cancel_now(store, sub, store.clock.now(), **(p.get("cancellation_details") or {}))
    return one(store, sub, p, SUB_EXPAND)


# -- invoices -------------------------------------------------------------------
@route("/invoices/<iid>", "GET", {"expand": EXPAND})
def retrieve_invoice(store, p, iid):
    return one(store, store.get("invoices", iid), p, ("customer",))


@route(
    "/invoices",
    "GET",
    {
        **PAGING,
        "customer": Str(),
        "subscription": Str(),
        "status": Str(enum=("draft", "open", "paid", "uncollectible", "void")),
    },
)
def list_invoices(store, p):
    def wanted(i):
        sub_id = i["parent"]["subscription_details"]["subscription"]
        return (
            p.get("customer") in (None, i["customer"])
            and p.get("subscription") in (None, sub_id)
            and p.get("status") in (None, i["status"])
        )

    return page(store, [i for i in store.all("invoices") if wanted(i)], p, "/v1/invoices", ("data.customer",))
