"""/dashboard/billing: the signed-in user's plan, status and billing buttons."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import redis
import stripe
from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from portal_service import presentation
from portal_service.errors import error_response
from portal_service.extensions import plan_catalog, redis_client, settings, stripe_client
from shared.billing.summary import billing_summary
from shared.infra.errors import CustomerOfAnotherUser
from shared.infra.models import User
from shared.infra.parsing import plain_int
from shared.sync import return_sync

bp = Blueprint("dashboard", __name__)
log = logging.getLogger("portal.dashboard")
for words in presentation.TEMPLATE_FILTERS:
    bp.add_app_template_filter(words)

MAX_SETTLE_TRIES = 3  # page reloads while a fetch is too close to the last event
SETTLE_SECONDS = 4  # past shared.sync.ordering's margin: the next fetch decides


@bp.get("/dashboard/billing")
@login_required
def billing():
    user = current_user.user
    sync_failed = False
    try:
        settled = _sync_on_return(user)
    except return_sync.CheckoutNotFound:
        return error_response(404, "No such checkout session")
    except return_sync.NotYourCheckout:
        return error_response(403, "This checkout session does not belong to your account")
    except CustomerOfAnotherUser as exc:
        log.error("checkout return not linked: %s", exc)
        return error_response(
            409,
            "Your payment went through, but its Stripe customer is already linked to "
            "another account, so it was not added to this one. Please contact support.",
        )
    except stripe.StripeError as exc:
        log.error("could not read user %s's billing from Stripe on return: %s", user.id, type(exc).__name__)
        settled, sync_failed = True, True
    user = User.get_by_id(user.id)  # the sync may have linked a customer
    summary = billing_summary(user, plan_catalog(), settings().past_due_grace_days)
    tries = _tries()
    refresh = not settled and tries < MAX_SETTLE_TRIES
    return render_template(
        "billing.html",
        summary=summary,
        sync_failed=sync_failed,
        refresh_url=_refresh_url(tries + 1) if refresh else None,
        refresh_seconds=SETTLE_SECONDS,
    )


def _sync_on_return(user: User) -> bool:
    """On return from Checkout or the portal, read this user's state from Stripe.

    Returns False when the page should be read again shortly: the fetch was too
    close to the last applied event to be trusted, or another return sync of
    this user ran a moment ago.
    """
    client = stripe_client()
    session_id = request.args.get("session_id")
    if session_id is not None:
        return return_sync.settled(return_sync.sync_checkout(client, user, session_id))
    if request.args.get("from") != "portal":
        return True
    if not _claim_sync(user):
        return False
    return return_sync.settled(return_sync.sync_customer(client, user))


def _claim_sync(user: User) -> bool:
    try:
        return return_sync.claim_sync(redis_client(), user.id)
    except redis.RedisError:
        return True  # unthrottled rather than stale


def _tries() -> int:
    tries = plain_int(request.args.get("try", "0"), 3)
    return MAX_SETTLE_TRIES if tries is None else tries


def _refresh_url(next_try: int) -> str:
    args = {key: value for key, value in request.args.items() if key in ("session_id", "from")}
    args["try"] = str(next_try)
    return request.path + "?" + urlencode(args)
