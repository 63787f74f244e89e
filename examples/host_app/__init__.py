"""Acme Notes: a small host app that bills its users through portal-service.

What a SaaS does to plug in, in one readable place:

- its own users and sign-in (``store``, ``views``);
- a "Billing" link that provisions the signed-in user through ``PUT /api/v1/customers/<id>``
  and hands the browser off to the service with a signed token (``billing``);
- a page only paying users may open, gated by ``GET .../access`` with a short cache (``billing``);
- a receiver of the service's signed notifications that keeps the cache right (``hooks``).

Configured by environment variables with the prefix ``ACME_`` (Flask's ``from_prefixed_env``):
``ACME_BILLING_URL``, ``ACME_BILLING_API_KEY``, ``ACME_HANDOFF_SECRET``, ``ACME_WEBHOOK_SECRET``,
``ACME_SECRET_KEY``, ``ACME_DATABASE`` and optionally ``ACME_ACCESS_CACHE_SECONDS``.
Run: ``gunicorn -c examples/host_app/gunicorn_conf.py 'examples.host_app:create_app()'``
(``scripts/run`` does this beside the service).
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from examples.host_app import hooks, store, views

REQUIRED = ("BILLING_URL", "BILLING_API_KEY", "HANDOFF_SECRET", "WEBHOOK_SECRET", "SECRET_KEY", "DATABASE")
csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    # Browsers keep cookies per host, not per port: beside the service on 127.0.0.1, a cookie
    # named "session" would be the service's too.
    app.config.update(ACCESS_CACHE_SECONDS=60, MAX_CONTENT_LENGTH=64 * 1024, SESSION_COOKIE_NAME="acme_session")
    if test_config is None:
        app.config.from_prefixed_env("ACME")
    else:
        app.config.update(test_config)
    missing = [f"ACME_{name}" for name in REQUIRED if not app.config.get(name)]
    if missing:
        raise RuntimeError(f"Acme Notes needs {', '.join(missing)} in its environment")
    cache_seconds = app.config["ACCESS_CACHE_SECONDS"]
    if isinstance(cache_seconds, bool) or not isinstance(cache_seconds, int | float) or cache_seconds < 0:
        raise RuntimeError("ACME_ACCESS_CACHE_SECONDS must be a number of seconds, 0 or more")
    app.config["BILLING_URL"] = str(app.config["BILLING_URL"]).rstrip("/")
    csrf.init_app(app)
    csrf.exempt(hooks.bp)  # the service signs its notifications; no browser posts there
    store.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(hooks.bp)
    return app
