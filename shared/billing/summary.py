"""What the billing page shows one user: the subscription shown, its plan, the plans on offer, access.

Facts only; the page's words for them are portal_service.presentation's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import stripe

from shared.billing.access import cancellation_date, grants_access, has_access, is_live, primary_subscription
from shared.billing.plans import Plan, PlanCatalog
from shared.billing.status import subscriptions_of
from shared.infra.models import Subscription, User
from shared.infra.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillingSummary:
    has_customer: bool
    has_access: bool
    subscription: Subscription | None = None
    subscription_grants: bool = False  # an active one whose cancel_at passed does not, before its webhook
    plan: Plan | None = None
    offered: list[Plan] = field(default_factory=list)  # Subscribe buttons; empty while live
    plans_unavailable: bool = False  # Stripe could not be asked for names and prices

    @property
    def live(self) -> bool:
        return is_live(self.subscription)

    @property
    def cancel_scheduled(self) -> bool:
        return self.subscription is not None and cancellation_date(self.subscription) is not None


def billing_summary(
    user: User, catalog: PlanCatalog, grace_days: int = 0, now: datetime | None = None
) -> BillingSummary:
    now = now or utcnow()
    subs = subscriptions_of(user)
    primary = primary_subscription(subs, now, grace_days)
    access = has_access(subs, now, grace_days)
    try:
        offered = [] if is_live(primary) else catalog.plans()
        plan = catalog.for_price(primary.price_id) if primary else None
        unavailable = False
    except stripe.StripeError as exc:
        log.warning("plans could not be read from Stripe: %s", type(exc).__name__)
        offered, plan, unavailable = [], None, True
    if primary is None:
        return BillingSummary(bool(user.stripe_customer_id), access, offered=offered, plans_unavailable=unavailable)
    grants = grants_access(primary, now, grace_days)
    return BillingSummary(bool(user.stripe_customer_id), access, primary, grants, plan, offered, unavailable)
