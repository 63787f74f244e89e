"""The web process: Stripe webhooks in, signed-in users' billing pages and API."""

from __future__ import annotations

import stripe
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.accounts.login_throttle import LoginThrottle
from shared.accounts.passwords import Passwords
from shared.billing.plans import PlanCatalog
from shared.infra.db import database, init_database
from shared.infra.logs import configure_logging
from shared.infra.redis_conn import connect_redis
from shared.infra.settings import Settings
from shared.infra.stripe_client import build_stripe_client


def create_app(settings: Settings | None = None, stripe_client: stripe.StripeClient | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    configure(app, settings)
    register_extensions(app, settings, stripe_client)
    register_database(app, settings)
    register_blueprints(app)
    register_middleware(app, settings)
    register_error_handlers(app)
    register_commands(app)
    return app


def configure(app: Flask, settings: Settings) -> None:
    configure_logging(settings.log_level)
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.webhook_max_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.is_development,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=not settings.is_development,
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead of a clock
    )


def register_extensions(app: Flask, settings: Settings, stripe_client) -> None:
    from portal_service import security
    from portal_service.extensions import csrf, login_manager

    security.init_app(app)  # before CSRF: a cross-site post is refused as such
    csrf.init_app(app)
    login_manager.init_app(app)
    app.extensions["redis"] = connect_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    app.extensions["stripe"] = stripe_client or build_stripe_client(settings)
    app.extensions["plans"] = PlanCatalog(app.extensions["stripe"], settings.billing_plans)
    app.extensions["login_throttle"] = LoginThrottle(app.extensions["redis"])
    app.extensions["passwords"] = Passwords.for_profile(settings.password_hash_profile)


def register_database(app: Flask, settings: Settings) -> None:
    """Connect lazily (the webhook path never touches the database), close after each request."""
    init_database(settings.database_url)

    @app.teardown_request
    def close_database(exc):
        if not database.is_closed():
            database.close()


def register_middleware(app: Flask, settings: Settings) -> None:
    from portal_service.slow_clients import ClientIdleTimeout
    from portal_service.webhooks import WebhookIngest

    app.wsgi_app = WebhookIngest(app.wsgi_app, settings)
    if settings.trusted_proxy_hops:
        # Behind a proxy every request comes from the proxy's address: the
        # per-IP sign-in and sign-up throttles would lump all users together,
        # and a proxy on this host would make /metrics look like loopback.
        # Only as many X-Forwarded-For hops as there are proxies are believed.
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.wsgi_app = ClientIdleTimeout(app.wsgi_app, settings.client_idle_timeout_seconds)


def register_blueprints(app: Flask) -> None:
    from portal_service import auth, billing_api, dashboard, ops

    app.register_blueprint(ops.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(billing_api.bp)
    app.register_blueprint(dashboard.bp)


def register_error_handlers(app: Flask) -> None:
    from portal_service import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from portal_service import cli

    cli.init_app(app)
