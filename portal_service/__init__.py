"""The web process: Stripe webhooks in, signed-in users' billing pages and API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import stripe
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

from shared.infra.db import database, init_database
from shared.infra.logs import configure_logging
from shared.infra.settings import Settings


def create_app(settings: Settings | None = None, stripe_client: stripe.StripeClient | None = None) -> Flask:
    from portal_service.json_provider import OrjsonProvider

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
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


def register_extensions(app: Flask, settings: Settings, stripe_client: stripe.StripeClient | None) -> None:
    from portal_service import extensions, security

    security.init_app(app)  # before CSRF: a cross-site post is refused as such
    extensions.csrf.init_app(app)
    extensions.login_manager.init_app(app)
    extensions.init_app(app, settings, stripe_client)


def register_database(app: Flask, settings: Settings) -> None:
    """Connect lazily (the webhook path never touches the database); each thread keeps its connection.

    Opening a connection costs more than the access check's query (SQLite's
    pragmas, PostgreSQL's fork and authentication), so it stays open for the
    thread's next request, unless the request left it broken or mid-transaction.
    """
    init_database(settings.database_url)

    @app.teardown_request
    def close_broken_database(exc):
        if not database.is_closed() and (database.in_transaction() or not database.is_connection_usable()):
            database.close()


def register_middleware(app: Flask, settings: Settings) -> None:
    from portal_service.access_fast_path import AccessFastPath
    from portal_service.slow_clients import ClientIdleTimeout
    from portal_service.webhooks import WebhookIngest

    access = AccessFastPath(app.wsgi_app, app, settings)
    app.extensions["access_cache"] = access.cache
    wsgi: WSGIApplication = WebhookIngest(access, settings)
    if settings.trusted_proxy_hops:
        # Behind a proxy every request comes from the proxy's address: the
        # per-IP sign-in and sign-up throttles would lump all users together,
        # and a proxy on this host would make /metrics look like loopback.
        # Only as many X-Forwarded-For hops as there are proxies are believed.
        hops = settings.trusted_proxy_hops
        wsgi = ProxyFix(wsgi, x_for=hops, x_proto=hops)
    # Flask's documented way to add WSGI middleware; its stubs declare wsgi_app a method.
    app.wsgi_app = ClientIdleTimeout(wsgi, settings.client_idle_timeout_seconds)  # type: ignore[method-assign]


def register_blueprints(app: Flask) -> None:
    from portal_service import auth, billing_api, dashboard, handoff, ops, service_api

    app.register_blueprint(ops.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(handoff.bp)
    app.register_blueprint(billing_api.bp)
    app.register_blueprint(dashboard.bp)
    service_api.init_app(app)


def register_error_handlers(app: Flask) -> None:
    from portal_service import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from portal_service import commands

    commands.register(app)
