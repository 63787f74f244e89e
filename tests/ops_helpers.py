"""Helpers for the operator tests: the app served over HTTP, the sandbox, and
snapshots of every row and every Redis key, to prove a command changed nothing."""

from __future__ import annotations

import threading
import time

from werkzeug.serving import make_server

from shared.infra.models import CustomerEntitlements, Entitlement, Setting, StripeEvent, Subscription, User

WATCHED = (User, Subscription, StripeEvent, Setting, Entitlement, CustomerEntitlements)


class ServedApp:
    """A Flask app on 127.0.0.1 in a thread, for the sandbox to deliver webhooks to."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


def cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input, catch_exceptions=False)


def snapshot_db() -> dict:
    return {model.__name__: sorted((row for row in model.select().dicts()), key=str) for model in WATCHED}


def snapshot_redis(conn) -> dict:
    return {key: conn.dump(key) for key in sorted(conn.keys("*"))}


def clock_past_margin(app, created: int) -> None:
    """Let the app's commands fetch as if it were the first moment a fetch is surely newer than
    events of second ``created`` (shared.sync.ordering.CLOCK_MARGIN_SECONDS): only then may sync
    overwrite their rows. Real time, if that is later; never a sleep."""
    from shared.sync.ordering import CLOCK_MARGIN_SECONDS

    trusted_from = created + 1 + CLOCK_MARGIN_SECONDS
    app.config["CLOCK"] = lambda: max(time.time(), trusted_from)
