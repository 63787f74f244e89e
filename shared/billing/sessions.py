"""Opening Stripe's hosted pages for one user: Checkout to subscribe, the portal to manage.

Everything that reaches Stripe comes from the user's own record and the
settings, never from the request: the customer, the subscription a deep link
acts on, the return address. The request only picks among fixed choices (a
configured plan, a flow from FLOWS).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

import stripe

from shared.billing.access import cancellation_date, is_live, primary_subscription
from shared.billing.plans import PlanCatalog
from shared.billing.status import subscriptions_of
from shared.infra import stored_settings
from shared.infra.models import Subscription, User
from shared.infra.settings import Settings
from shared.infra.timeutil import utcnow

if TYPE_CHECKING:
    from stripe.params.billing_portal import SessionCreateParams as PortalSessionParams
    from stripe.params.billing_portal import SessionCreateParamsFlowData as PortalFlowData
    from stripe.params.checkout import SessionCreateParams as CheckoutSessionParams

BILLING_PAGE = "/dashboard/billing"
PORTAL_RETURN_MARKER = "from=portal"
# Deep links into the portal: flow_data types that act on the user's own subscription.
FLOWS = ("payment_method_update", "subscription_update", "subscription_cancel")
SUBSCRIPTION_FLOWS = ("subscription_update", "subscription_cancel")


class BillingRefusal(Exception):
    """A request this user may not make; the message is fit to show them (HTTP 400)."""


class AlreadySubscribed(Exception):
    """The user has a live subscription: a second checkout would bill them twice."""


def billing_page_url(settings: Settings) -> str:
    return settings.app_base_url + BILLING_PAGE


def portal_return_url(settings: Settings) -> str:
    return f"{billing_page_url(settings)}?{PORTAL_RETURN_MARKER}"


def live_subscription(user: User, now: datetime | None = None, grace: int = 0) -> Subscription | None:
    primary = primary_subscription(subscriptions_of(user), now or utcnow(), grace)
    return primary if is_live(primary) else None


def portal_params(settings: Settings, user: User, flow: str | None = None) -> PortalSessionParams:
    """The parameters of a portal session for ``user``; raises BillingRefusal."""
    if not user.stripe_customer_id:
        raise BillingRefusal("No active subscription")
    if flow is not None and flow not in FLOWS:
        raise BillingRefusal(f"Unknown portal flow {flow!r}: use one of {', '.join(FLOWS)}")
    return_url = portal_return_url(settings)
    params: PortalSessionParams = {"customer": user.stripe_customer_id, "return_url": return_url}
    configuration = stored_settings.portal_configuration_id(settings)
    if configuration:
        params["configuration"] = configuration
    if settings.portal_locale:
        params["locale"] = settings.portal_locale
    if flow:
        params["flow_data"] = flow_data(user, flow, return_url)
    return params


def flow_data(user: User, flow: str, return_url: str) -> PortalFlowData:
    data: dict = {"type": flow, "after_completion": {"type": "redirect", "redirect": {"return_url": return_url}}}
    if flow in SUBSCRIPTION_FLOWS:
        sub = live_subscription(user)
        if sub is None:
            raise BillingRefusal("No active subscription")
        if flow == "subscription_cancel" and cancellation_date(sub):
            raise BillingRefusal("Your subscription is already set to cancel")
        data[flow] = {"subscription": sub.id}
    return cast("PortalFlowData", data)  # keyed by the flow's name, one of FLOWS


def open_portal(client: stripe.StripeClient, settings: Settings, user: User, flow: str | None = None) -> str:
    """The URL of a new portal session. Raises BillingRefusal or stripe.StripeError."""
    session = client.v1.billing_portal.sessions.create(params=portal_params(settings, user, flow))
    return session.url


def checkout_params(settings: Settings, catalog: PlanCatalog, user: User, plan_key: str) -> CheckoutSessionParams:
    """Parameters of a subscription-mode Checkout Session; raises BillingRefusal or AlreadySubscribed."""
    plan = catalog.find((plan_key or "").strip())
    if plan is None:
        raise BillingRefusal(f"Unknown plan {plan_key!r}: choose one of the plans on the billing page")
    if live_subscription(user) is not None:
        raise AlreadySubscribed(user.id)
    page = billing_page_url(settings)
    params: CheckoutSessionParams = {
        "mode": "subscription",
        "line_items": [{"price": plan.price_id, "quantity": 1}],
        "client_reference_id": str(user.id),
        "success_url": page + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": page,
    }
    if user.stripe_customer_id:
        params["customer"] = user.stripe_customer_id
    else:
        params["customer_email"] = user.email
    return params


def open_checkout(
    client: stripe.StripeClient, settings: Settings, catalog: PlanCatalog, user: User, plan_key: str
) -> str:
    session = client.v1.checkout.sessions.create(params=checkout_params(settings, catalog, user, plan_key))
    if session.url is None:  # only a session embedded in a page has none; these are hosted
        raise stripe.APIError("Stripe answered a Checkout Session without a URL")
    return session.url
