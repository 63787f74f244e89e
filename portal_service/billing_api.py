"""The signed-in user's billing: status as JSON, and opening Stripe's portal and Checkout.

POSTs answer ``{"url": ...}`` to JSON callers and a 303 redirect to form posts.
"""

from __future__ import annotations

import functools
import logging

import stripe
from flask import Blueprint, jsonify, redirect, request
from flask_login import current_user, login_required

from portal_service.errors import error_response, wants_json
from portal_service.extensions import csrf, plan_catalog, settings, stripe_client
from shared.billing.sessions import AlreadySubscribed, BillingRefusal, open_checkout, open_portal
from shared.billing.status import billing_status

bp = Blueprint("billing_api", __name__)
log = logging.getLogger("portal.billing")


@bp.get("/api/billing/status")
@login_required
def status():
    return billing_status(current_user.user, settings().past_due_grace_days)


def csrf_after_login(view):
    """CSRF-check after the login check, so a signed-out caller hears 'Login required'
    (and a browser goes to the sign-in page) rather than a token error."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        csrf.protect()
        return view(*args, **kwargs)

    return csrf.exempt(checked)


@bp.post("/api/billing/portal")
@login_required
@csrf_after_login
def portal():
    flow = _field("flow") or None
    return _open("portal", lambda client, settings: open_portal(client, settings, current_user.user, flow))


@bp.post("/api/billing/checkout")
@login_required
@csrf_after_login
def checkout():
    plan = _field("price")
    catalog = plan_catalog()

    def start(client, settings):
        try:
            return open_checkout(client, settings, catalog, current_user.user, plan)
        except AlreadySubscribed:  # one subscription per customer: manage it instead
            return open_portal(client, settings, current_user.user)

    return _open("checkout", start)


def _field(name: str) -> str:
    if request.is_json:
        body = request.get_json(silent=True)
        value = body.get(name) if isinstance(body, dict) else None
        return value if isinstance(value, str) else ""
    return request.form.get(name, "")


def _open(what: str, make_url):
    try:
        url = make_url(stripe_client(), settings())
    except BillingRefusal as exc:
        return error_response(400, str(exc))
    except stripe.StripeError as exc:
        log.error(
            "stripe refused to open %s for user %s: %s (%s)",
            what,
            current_user.id,
            type(exc).__name__,
            getattr(exc, "code", None) or exc.http_status,
        )
        return error_response(502, f"Stripe could not open the {what} just now. Please try again.")
    if wants_json():
        return jsonify(url=url)
    return redirect(url, code=303)
