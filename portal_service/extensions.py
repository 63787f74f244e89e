"""Extension instances and the app's shared clients, bound in create_app and read through typed accessors.

Views ask ``redis_client()``, never ``current_app.extensions["redis"]``: the
string keys live here alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
import stripe
from flask import Flask, current_app
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from shared.accounts.api_keys import LastUsed
from shared.accounts.login_throttle import LoginThrottle
from shared.accounts.passwords import Passwords
from shared.billing.plans import PlanCatalog
from shared.infra.redis_conn import connect_redis
from shared.infra.settings import Settings
from shared.infra.stripe_client import build_stripe_client
from shared.ops import metrics

csrf = CSRFProtect()
login_manager = LoginManager()


def init_app(app: Flask, settings: Settings, client: stripe.StripeClient | None = None) -> None:
    """One Redis client, one Stripe client, the plan catalog, the sign-in throttle and the password hasher per app."""
    conn = connect_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    client = client or build_stripe_client(settings, metrics.observe_limiter_wait, metrics.count_stripe_429)
    app.extensions["redis"] = conn
    app.extensions["stripe"] = client
    app.extensions["plans"] = PlanCatalog(client, settings.billing_plans)
    app.extensions["login_throttle"] = LoginThrottle(conn)
    app.extensions["passwords"] = Passwords.for_profile(settings.password_hash_profile)
    app.extensions["api_key_usage"] = LastUsed()


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def redis_client() -> redis.Redis:
    return current_app.extensions["redis"]


def stripe_client() -> stripe.StripeClient:
    return current_app.extensions["stripe"]


def plan_catalog() -> PlanCatalog:
    return current_app.extensions["plans"]


def login_throttle() -> LoginThrottle:
    return current_app.extensions["login_throttle"]


def passwords() -> Passwords:
    return current_app.extensions["passwords"]


def api_key_usage() -> LastUsed:
    return current_app.extensions["api_key_usage"]


def clock() -> Callable[[], float]:
    """The time commands stamp their Stripe fetches with; tests set CLOCK instead of sleeping."""
    return current_app.config.get("CLOCK", time.time)
