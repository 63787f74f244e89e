"""Customer Portal: configurations, sessions, and what a customer can do."""

import copy

from . import billing, customers, ids, objects
from .errors import ApiError
from .store import Store


# -- configurations --------------------------------------------------------
def create_configuration(store: Store, params: dict, is_default: bool = False) -> dict:
    cfg = objects.portal_configuration(store.clock.now(), is_default)
    if is_default:
        # Stable across restarts, like the seeded prices.
        cfg["id"] = ids.seeded_id("bpc", "default")
    apply_configuration(store, cfg, params)
    store.add("portal_configurations", cfg)
    if not is_default:  # Stripe's own default configuration comes without an event.
        store.emit("billing_portal.configuration.created", cfg)
    return cfg


def update_configuration(store: Store, cfg: dict, params: dict) -> dict:
    before = copy.deepcopy(cfg)
    changed = copy.deepcopy(cfg)
    apply_configuration(store, changed, params)  # may refuse: cfg is untouched until it passes
    cfg.update(changed)
    previous = {k: v for k, v in before.items() if cfg[k] != v}
    if previous:
        cfg["updated"] = store.clock.now()
        store.emit("billing_portal.configuration.updated", cfg, previous)
    return cfg


def apply_configuration(store: Store, cfg: dict, params: dict) -> None:
    for key in ("default_return_url", "name", "active"):
        if key in params:
            cfg[key] = params[key] if params[key] != "" else None
    cfg["business_profile"].update(params.get("business_profile") or {})
    if "metadata" in params:
        cfg["metadata"] = customers.merge_metadata(cfg["metadata"], params["metadata"])
    for name, changes in (params.get("features") or {}).items():
        _apply_feature(store, cfg["features"][name], name, changes or {})


def _apply_feature(store: Store, feature: dict, name: str, changes: dict) -> None:
    for key, value in changes.items():
        if key == "products":
            feature["products"] = _checked_products(store, value)
        elif isinstance(value, dict) and isinstance(feature.get(key), dict):
            feature[key].update(value)
        else:
            feature[key] = value


def _checked_products(store: Store, entries: list[dict]) -> list[dict]:
    checked = []
    for index, entry in enumerate(entries):
        param = f"features[subscription_update][products][{index}]"
        product = store.get("products", entry["product"], param=f"{param}[product]")
        for p_index, price_id in enumerate(entry["prices"]):
            price = store.get("prices", price_id, param=f"{param}[prices][{p_index}]")
            if price["product"] != product["id"]:
                raise ApiError(
                    f"The price {price_id} does not belong to product {product['id']}.",
                    param=f"{param}[prices][{p_index}]",
                )
        checked.append(
            {
                "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
                "prices": list(entry["prices"]),
                "product": product["id"],
            }
        )
    return checked


def default_configuration(store: Store) -> dict:
    for cfg in store.all("portal_configurations"):
        if cfg["is_default"]:
            return cfg
    raise LookupError("the sandbox always has a default portal configuration")


def seed_default_configuration(store: Store) -> dict:
    """Everything on, every seeded price offered, cancel at period end."""
    products: dict[str, list[str]] = {}
    for price in reversed(store.all("prices")):
        products.setdefault(price["product"], []).append(price["id"])
    features = {
        "customer_update": {"enabled": True, "allowed_updates": ["email", "name"]},
        "invoice_history": {"enabled": True},
        "payment_method_update": {"enabled": True},
        "subscription_cancel": {
            "enabled": True,
            "mode": "at_period_end",
            "proration_behavior": "none",
            "cancellation_reason": {
                "enabled": True,
                "options": ["too_expensive", "missing_features", "switched_service", "unused", "other"],
            },
        },
        "subscription_update": {
            "enabled": True,
            "default_allowed_updates": ["price"],
            "proration_behavior": "create_prorations",
            "products": [{"product": k, "prices": v} for k, v in products.items()],
        },
    }
    return create_configuration(store, {"features": features}, is_default=True)


def allowed_prices(store: Store, cfg: dict) -> list[dict]:
    feature = cfg["features"]["subscription_update"]
    if not feature["enabled"] or "price" not in feature["default_allowed_updates"]:
        return []
    return [store.get("prices", price_id) for entry in feature["products"] for price_id in entry["prices"]]


# -- sessions ---------------------------------------------------------------
def create_session(store: Store, params: dict) -> dict:
    cust = store.get("customers", params["customer"], param="customer")
    cfg = _configuration_for(store, params.get("configuration"))
    return_url = params.get("return_url") or cfg["default_return_url"]
    flow = _flow(store, cust, cfg, params.get("flow_data"))
    session = objects.portal_session(
        store.clock.now(),
        cust["id"],
        cfg["id"],
        return_url,
        params.get("locale"),
        flow,
        lambda sid: store.url(f"/p/session/{sid}"),
    )
    return store.add("portal_sessions", session)


def _configuration_for(store: Store, config_id: str | None) -> dict:
    if not config_id:
        return default_configuration(store)
    cfg = store.get("portal_configurations", config_id, param="configuration")
    if not cfg["active"]:
        raise ApiError(f"The configuration {config_id} is not active.", param="configuration")
    return cfg


def _flow(store: Store, cust: dict, cfg: dict, data: dict | None) -> dict | None:
    if not data:
        return None
    kind = data["type"]
    flow = {
        "type": kind,
        "after_completion": _after_completion(data.get("after_completion")),
        "subscription_cancel": None,
        "subscription_update": None,
        "subscription_update_confirm": None,
    }
    if kind == "subscription_cancel":
        flow[kind] = _cancel_flow(store, cust, cfg, data)
    elif kind == "subscription_update":
        flow[kind] = {"subscription": _flow_subscription(store, cust, data, kind)["id"]}
        _require_feature(cfg, "subscription_update", kind)
    elif kind == "subscription_update_confirm":
        flow[kind] = _confirm_flow(store, cust, cfg, data)
    return flow


def _after_completion(data: dict | None) -> dict:
    data = data or {"type": "portal_homepage"}
    kind = data["type"]
    redirect = None
    if kind == "redirect":
        url = (data.get("redirect") or {}).get("return_url")
        if not url:
            param = "flow_data[after_completion][redirect][return_url]"
            raise ApiError(f"Missing required param: {param}.", param=param)
        redirect = {"return_url": url}
    confirmation = None
    if kind == "hosted_confirmation":
        message = (data.get("hosted_confirmation") or {}).get("custom_message")
        confirmation = {"custom_message": message}
    return {"type": kind, "redirect": redirect, "hosted_confirmation": confirmation}


def _flow_subscription(store: Store, cust: dict, data: dict, kind: str) -> dict:
    param = f"flow_data[{kind}][subscription]"
    sub_id = (data.get(kind) or {}).get("subscription")
    if not sub_id:
        raise ApiError(f"Missing required param: {param}.", param=param)
    sub = store.get("subscriptions", sub_id, param=param)
    if sub["customer"] != cust["id"]:
        raise ApiError(f"The subscription {sub_id} does not belong to the customer {cust['id']}.", param=param)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise ApiError(
            f"The subscription {sub_id} has been canceled and cannot be updated or canceled in the portal.", param=param
        )
    return sub


def _cancel_flow(store: Store, cust: dict, cfg: dict, data: dict) -> dict:
    sub = _flow_subscription(store, cust, data, "subscription_cancel")
    _require_feature(cfg, "subscription_cancel", "subscription_cancel")
    if sub["cancel_at_period_end"] or sub["cancel_at"]:
        raise ApiError(
            f"The subscription {sub['id']} is already set to be canceled.",
            param="flow_data[subscription_cancel][subscription]",
        )
    return {"subscription": sub["id"], "retention": None}


def _confirm_flow(store: Store, cust: dict, cfg: dict, data: dict) -> dict:
    kind = "subscription_update_confirm"
    sub = _flow_subscription(store, cust, data, kind)
    _require_feature(cfg, "subscription_update", kind)
    items = (data.get(kind) or {}).get("items") or []
    if not items:
        raise ApiError(f"Missing required param: flow_data[{kind}][items].", param=f"flow_data[{kind}][items]")
    item_ids = {i["id"] for i in sub["items"]["data"]}
    allowed = {p["id"] for p in allowed_prices(store, cfg)}
    for index, item in enumerate(items):
        param = f"flow_data[{kind}][items][{index}]"
        if item.get("id") not in item_ids:
            raise ApiError(f"The subscription item {item.get('id')} is not part of {sub['id']}.", param=f"{param}[id]")
        if item.get("price") and item["price"] not in allowed:
            raise ApiError(
                f"The price {item['price']} is not allowed by the portal configuration.", param=f"{param}[price]"
            )
    return {"subscription": sub["id"], "items": items, "discounts": None}


def _require_feature(cfg: dict, feature: str, kind: str) -> None:
    if not cfg["features"][feature]["enabled"]:
        raise ApiError(
            f"You cannot create a `{kind}` flow because the portal configuration {cfg['id']} has `{feature}` disabled.",
            param="flow_data[type]",
        )


# -- what the customer does on the hosted page ------------------------------
def owned_subscription(store: Store, session: dict, sub_id: str) -> dict:
    sub = store.get("subscriptions", sub_id)
    if sub["customer"] != session["customer"]:
        raise ApiError("That subscription belongs to another customer.")
    return sub


def update_card(store: Store, session: dict, number: str) -> dict:
    cust = store.get("customers", session["customer"])
    pm = customers.attach_card(store, cust, number)
    now = store.clock.now()
    for sub in store.all("subscriptions"):
        if sub["customer"] == cust["id"] and sub["status"] not in ("canceled",):
            billing.update(store, sub, now, {"default_payment_method": pm["id"]})
    billing.pay_open_invoices(store, cust["id"], now)
    return pm


def update_details(store: Store, session: dict, form) -> dict:
    """Email and name, as far as the configuration allows editing them."""
    cfg = store.get("portal_configurations", session["configuration"])
    feature = cfg["features"]["customer_update"]
    allowed = feature["allowed_updates"] if feature["enabled"] else []
    changes = {k: form[k].strip() for k in ("email", "name") if k in form and k in allowed}
    if not changes:
        raise ApiError("Nothing here can be changed.")
    if "email" in changes and "@" not in changes["email"]:
        raise ApiError("Enter a valid email address.")
    return customers.update(store, store.get("customers", session["customer"]), changes)


def switch_price(store: Store, session: dict, sub_id: str, price_id: str) -> dict:
    sub = owned_subscription(store, session, sub_id)
    cfg = store.get("portal_configurations", session["configuration"])
    if price_id not in {p["id"] for p in allowed_prices(store, cfg)}:
        raise ApiError("That plan is not offered here.")
    price = store.get("prices", price_id)
    behavior = cfg["features"]["subscription_update"]["proration_behavior"]
    item_id = sub["items"]["data"][0]["id"]
    return billing.update(store, sub, store.clock.now(), swaps=[(item_id, price, None)], proration_behavior=behavior)


def cancel(store: Store, session: dict, sub_id: str, feedback: str | None = None) -> dict:
    sub = owned_subscription(store, session, sub_id)
    cfg = store.get("portal_configurations", session["configuration"])
    feature = cfg["features"]["subscription_cancel"]
    if not feature["enabled"]:
        raise ApiError("Cancelling is not enabled in this portal.")
    now = store.clock.now()
    if feature["mode"] == "immediately":
        return billing.cancel_now(store, sub, now, feedback=feedback)
    return billing.schedule_cancel(store, sub, now, feedback=feedback)


def reactivate(store: Store, session: dict, sub_id: str) -> dict:
    sub = owned_subscription(store, session, sub_id)
    return billing.undo_cancel(store, sub, store.clock.now())
