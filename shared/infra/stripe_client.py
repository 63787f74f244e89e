"""The one StripeClient, built from settings.

``STRIPE_API_BASE`` points it at the offline sandbox in development and tests;
unset, it talks to Stripe. The API version is the one stripe-python pins.
"""

from __future__ import annotations

import stripe

from shared.infra.settings import Settings

API_VERSION = stripe.api_version  # pinned by stripe-python 16: "2026-10-28.endive"


def build_stripe_client(settings: Settings) -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else {},
        max_network_retries=2,
    )
