"""Hosted pages: Checkout, Customer Portal, invoices. Plain HTML forms."""

import copy
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from . import checkout, customers, portal
from .errors import ApiError
from .pdf import text_pdf

bp = Blueprint("pages", __name__, template_folder="templates")
DECLINE_CARD = customers.DECLINED_CARD


def _sandbox():
    return current_app.extensions["stripe_sandbox"]


def _store():
    return _sandbox().store


@bp.app_template_filter("money")
def money(amount, currency="usd"):
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    value = f"{abs(amount) / 100:,.2f}"
    return f"{sign}${value}" if currency == "usd" else f"{sign}{value} {currency.upper()}"


@bp.app_template_filter("date")
def date(ts):
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%-d %b %Y")


def _host(url: str | None) -> str:
    return urlsplit(url).netloc if url else ""


def _products() -> dict:
    return _store().collections["products"]


# -- checkout -------------------------------------------------------------------
@bp.get("/c/pay/<sid>")
def checkout_page(sid):
    with _sandbox().lock:
        return _render_checkout(_store().get("checkout_sessions", sid))


@bp.post("/c/pay/<sid>")
def checkout_submit(sid):
    store = _store()
    with store.lock:
        session = store.get("checkout_sessions", sid)
        card = DECLINE_CARD if request.form.get("action") == "decline" else request.form.get("card", "")
        email = (request.form.get("email") or "").strip() or None
        if not (session["customer"] or session["customer_email"] or email):
            return _render_checkout(session, "Enter your email address."), 400
        try:
            checkout.pay(store, session, email, card)
        except customers.CardDeclined as declined:
            return _render_checkout(session, str(declined)), 402
        except ApiError as error:
            return _render_checkout(session, error.message), 400
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
    return redirect(target, code=303)


def _render_checkout(session: dict, error: str | None = None):
    store = _store()
    email = session["customer_email"]
    if session["customer"]:
        email = store.get("customers", session["customer"])["email"]
    return render_template(
        "checkout.html",
        session=session,
        lines=checkout.lines(store, session),
        products=_products(),
        email=email,
        error=error,
        trial_days=session["subscription_data"].get("trial_period_days"),
    )


# -- customer portal ------------------------------------------------------------
@bp.get("/p/session/<bps>")
def portal_page(bps):
    with _sandbox().lock:
        session = _store().get("portal_sessions", bps)
        home = request.args.get("home") == "1"
        return _render_portal(session, home, notice=request.args.get("notice"))


def _render_portal(session: dict, home: bool, error: str | None = None, notice: str | None = None):
    store = _store()
    cfg = store.get("portal_configurations", session["configuration"])
    cust = store.get("customers", session["customer"])
    flow = None if home else session["flow"]
    pm_id = cust["invoice_settings"]["default_payment_method"]
    back_home: dict[str, Any] = {"home": "1"} if home and session["flow"] else {}
    return render_template(
        "portal.html",
        session=session,
        config=cfg,
        customer=cust,
        show=_sections(cfg, flow),
        subscriptions=_subscriptions_shown(store, cust, flow),
        confirm=_confirmation(store, flow),
        products=_products(),
        prices=portal.allowed_prices(store, cfg),
        cancel=cfg["features"]["subscription_cancel"],
        editable=_editable_details(cfg),
        invoices=[i for i in store.all("invoices") if i["customer"] == cust["id"]],
        payment_method=store.collections["payment_methods"].get(pm_id) if pm_id else None,
        return_host=_host(session["return_url"]),
        error=error,
        notice=notice,
        action=lambda name: url_for(f"pages.portal_{name}", bps=session["id"], **back_home),
    )


def _sections(cfg: dict, flow: dict | None) -> dict:
    """Which parts of the portal to show: all enabled ones, or the flow's one."""
    features = cfg["features"]
    enabled = {
        "subscriptions": True,
        "update": features["subscription_update"]["enabled"],
        "cancel": features["subscription_cancel"]["enabled"],
        "card": features["payment_method_update"]["enabled"],
        "invoices": features["invoice_history"]["enabled"],
        "details": _editable_details(cfg) != [],
        "confirm": False,
    }
    if flow is None:
        return enabled
    only = {
        "payment_method_update": {"card"},
        "subscription_cancel": {"subscriptions", "cancel"},
        "subscription_update": {"subscriptions", "update"},
        "subscription_update_confirm": {"confirm"},
    }[flow["type"]]
    return {name: name in only for name in enabled}


def _editable_details(cfg: dict) -> list[str]:
    feature = cfg["features"]["customer_update"]
    if not feature["enabled"]:
        return []
    return [f for f in ("email", "name") if f in feature["allowed_updates"]]


def _subscriptions_shown(store, cust: dict, flow: dict | None) -> list[dict]:
    subs = [
        s
        for s in store.all("subscriptions")
        if s["customer"] == cust["id"] and s["status"] not in ("incomplete", "incomplete_expired")
    ]
    target = _flow_subscription(flow)
    if target:
        return [s for s in subs if s["id"] == target]
    live = [s for s in subs if s["status"] != "canceled"]
    return live or subs[:1]


def _flow_subscription(flow: dict | None) -> str | None:
    if not flow or flow["type"] == "payment_method_update":
        return None
    return flow[flow["type"]]["subscription"]


def _confirmation(store, flow: dict | None) -> dict | None:
    if not flow or flow["type"] != "subscription_update_confirm":
        return None
    details = flow["subscription_update_confirm"]
    price_id = next((i.get("price") for i in details["items"] if i.get("price")), None)
    if price_id is None:
        return None
    return {"subscription": details["subscription"], "price": store.get("prices", price_id)}


@bp.post("/p/session/<bps>/card")
def portal_card(bps):
    return _portal_action(
        bps, lambda store, s: portal.update_card(store, s, request.form.get("card", "")), "Your card was updated."
    )


@bp.post("/p/session/<bps>/details")
def portal_details(bps):
    return _portal_action(
        bps, lambda store, s: portal.update_details(store, s, request.form), "Your details were updated."
    )


@bp.post("/p/session/<bps>/switch")
def portal_switch(bps):
    return _portal_action(
        bps,
        lambda store, s: portal.switch_price(store, s, request.form["subscription"], request.form["price"]),
        "Your plan was updated.",
    )


@bp.post("/p/session/<bps>/cancel")
def portal_cancel(bps):
    return _portal_action(
        bps,
        lambda store, s: portal.cancel(store, s, request.form["subscription"], request.form.get("feedback") or None),
        "Your plan was canceled.",
    )


@bp.post("/p/session/<bps>/reactivate")
def portal_reactivate(bps):
    return _portal_action(
        bps, lambda store, s: portal.reactivate(store, s, request.form["subscription"]), "Your plan was renewed."
    )


def _portal_action(bps: str, act, notice: str):
    """Run ``act``; show errors on the page; then finish the flow or go home."""
    store = _store()
    with store.lock:
        session = store.get("portal_sessions", bps)
        in_flow = session["flow"] is not None and request.args.get("home") != "1"
        try:
            act(store, session)
        except customers.CardDeclined as declined:
            return _render_portal(session, not in_flow, error=str(declined)), 402
        except (ApiError, KeyError) as error:
            message = error.message if isinstance(error, ApiError) else "Missing form field."
            return _render_portal(session, not in_flow, error=message), 400
        if in_flow:
            return _after_flow(copy.deepcopy(session))
    return redirect(url_for("pages.portal_page", bps=bps, home="1", notice=notice), code=303)


def _after_flow(session: dict):
    after = session["flow"]["after_completion"]
    if after["type"] == "redirect":
        return redirect(after["redirect"]["return_url"], code=303)
    if after["type"] == "hosted_confirmation":
        message = (after["hosted_confirmation"] or {}).get("custom_message")
        return render_template(
            "confirmation.html",
            message=message,
            return_url=session["return_url"],
            return_host=_host(session["return_url"]),
        )
    return redirect(url_for("pages.portal_page", bps=session["id"], home="1"), code=303)


# -- invoices -------------------------------------------------------------------
@bp.get("/i/<iid>")
def invoice_page(iid):
    with _sandbox().lock:
        return render_template("invoice.html", invoice=_store().get("invoices", iid))


@bp.get("/i/<iid>/pdf")
def invoice_pdf(iid):
    with _sandbox().lock:
        inv = copy.deepcopy(_store().get("invoices", iid))
    lines = [
        f"Invoice {inv['number']}  ({inv['status']})",
        "Test sandbox - not Stripe",
        "",
        f"Billed to: {inv['customer_email'] or inv['customer']}",
        f"Date: {date(inv['created'])}",
        "",
    ]
    lines += [f"{line['description']}: {money(line['amount'], line['currency'])}" for line in inv["lines"]["data"]]
    lines += [
        "",
        f"Amount due: {money(inv['amount_due'], inv['currency'])}",
        f"Amount paid: {money(inv['amount_paid'], inv['currency'])}",
    ]
    return Response(
        text_pdf(lines),
        mimetype="application/pdf",
        headers={"Content-Disposition": f"inline; filename={inv['number']}.pdf"},
    )


@bp.app_errorhandler(ApiError)
def page_error(error: ApiError):
    # A missing session or invoice on a hosted page: a plain page, not JSON.
    return render_template("confirmation.html", message=error.message, return_url=None), error.status
