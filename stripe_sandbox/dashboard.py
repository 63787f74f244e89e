"""A home page for people: start a checkout, open a portal, move the clock."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from . import checkout, portal

bp = Blueprint("dashboard", __name__, template_folder="templates")
RECENT_EVENTS = 25


def _sandbox():
    return current_app.extensions["stripe_sandbox"]


@bp.get("/")
def home():
    sandbox = _sandbox()
    store = sandbox.store
    with store.lock:
        subscriptions = store.all("subscriptions")
        return render_template(
            "dashboard.html",
            base_url=store.base_url,
            now=sandbox.clock.now(),
            offset=sandbox.clock.offset,
            prices=store.all("prices")[::-1],
            products=store.collections["products"],
            customers=store.all("customers"),
            subscriptions_of=lambda cid: [s for s in subscriptions if s["customer"] == cid],
            events=[(e, sandbox.dispatcher.delivery_success(e["id"])) for e in store.all("events")[:RECENT_EVENTS]],
            endpoints=list(sandbox.dispatcher.endpoints.values()),
        )


@bp.post("/_sandbox/ui/checkout")
def start_checkout():
    store = _sandbox().store
    home_url = store.url("/")
    params = {
        "mode": "subscription",
        "success_url": home_url + "?paid={CHECKOUT_SESSION_ID}",
        "cancel_url": home_url,
        "line_items": [{"price": request.form["price"], "quantity": 1}],
    }
    if request.form.get("email"):
        params["customer_email"] = request.form["email"]
    with store.lock:
        session = checkout.create(store, params)
    return redirect(session["url"], code=303)


@bp.post("/_sandbox/ui/portal")
def open_portal():
    store = _sandbox().store
    with store.lock:
        session = portal.create_session(store, {"customer": request.form["customer"], "return_url": store.url("/")})
    return redirect(session["url"], code=303)


@bp.post("/_sandbox/ui/advance")
def advance():
    days = max(0, int(request.form.get("days") or 0))
    _sandbox().advance_clock(days * 86400)
    return redirect(url_for("dashboard.home"), code=303)
