"""The Flask app, and running it in a thread for tests."""

import threading

from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

from . import api, api_billing, api_catalog, api_entitlements, api_v2, control, dashboard, ids, pages
from .delivery import DEFAULT_RETRY_DELAYS
from .errors import ApiError
from .sandbox import Sandbox

# Importing these registers their routes on the one ``/v1`` blueprint.
API_ROUTE_MODULES = (api, api_billing, api_catalog, api_entitlements)


def create_app(sandbox: Sandbox) -> Flask:
    app = Flask(__name__)
    app.extensions["stripe_sandbox"] = sandbox
    app.register_blueprint(api.bp)
    app.register_blueprint(api_v2.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(dashboard.bp)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)
    return app


def _not_found(error):
    if not request.path.startswith("/v1"):
        return error
    message = (
        f"Unrecognized request URL ({request.method}: {request.path}). "
        "Please see https://stripe.com/docs or we can help at "
        "https://support.stripe.com/."
    )
    return jsonify(ApiError(message, status=404).body()), 404


class _QuietHandler(WSGIRequestHandler):
    # Tests read assertions, not an access log line per request.
    def log_request(self, *args, **kwargs) -> None:
        pass


class RunningSandbox:
    """A sandbox served on 127.0.0.1 from a background thread."""

    def __init__(self, sandbox: Sandbox, port: int = 0, host: str = "127.0.0.1") -> None:
        self.sandbox = sandbox
        self.webhook_secret: str | None = None
        self._server = make_server(host, port, create_app(sandbox), threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.api_base = self.url
        sandbox.store.base_url = self.url
        # A short poll interval keeps stop() quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="stripe-sandbox", daemon=True
        )
        self._thread.start()

    def stripe_client(self, api_key: str = "sk_test_sandbox"):
        """A ``StripeClient`` pointed at this sandbox."""
        import stripe

        return stripe.StripeClient(api_key, base_addresses={"api": self.api_base}, max_network_retries=0)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
        self.sandbox.stop()

    def __enter__(self) -> "RunningSandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def run_in_thread(
    port: int = 0,
    webhook_urls=(),
    webhook_secret: str | None = None,
    plans_path=None,
    retry_delays=DEFAULT_RETRY_DELAYS,
    thin_webhook_urls=(),
) -> RunningSandbox:
    """Start a sandbox on 127.0.0.1 (port 0 picks a free one).

    Every ``webhook_urls`` (snapshot events) and ``thin_webhook_urls`` (thin
    notifications) endpoint signs with ``webhook_secret``, or with one
    generated secret, readable as ``handle.webhook_secret``.
    """
    sandbox = Sandbox(plans_path=plans_path, retry_delays=retry_delays)
    secret = webhook_secret or ids.webhook_secret()
    for url in webhook_urls:
        sandbox.add_webhook_endpoint(url, secret)
    for url in thin_webhook_urls:
        sandbox.add_webhook_endpoint(url, secret, "thin")
    handle = RunningSandbox(sandbox, port)
    handle.webhook_secret = secret
    return handle
