"""Helpers for the operator tests: the app served over HTTP, the sandbox, and
snapshots of every row and every Redis key, to prove a command changed nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

import pytest
from werkzeug.serving import make_server

from portal_service import create_app
from shared.infra.models import Setting, StripeEvent, Subscription, User
from stripe_sandbox.server import run_in_thread
from tests.conftest import WEBHOOK_SECRET

WATCHED = (User, Subscription, StripeEvent, Setting)


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


@pytest.fixture
def sandbox():
    with run_in_thread(retry_delays=(0.05,)) as running:
        yield running


@pytest.fixture
def ops_settings(settings, sandbox):
    return dataclasses.replace(settings, stripe_api_base=sandbox.api_base, worker_max_retries=0)


@pytest.fixture
def ops_app(ops_settings, db, redis_conn, sandbox):
    """The web app talking to the sandbox, served so that the sandbox's webhooks reach it."""
    app = create_app(ops_settings, stripe_client=sandbox.stripe_client())
    app.config.update(TESTING=True)
    served = ServedApp(app)
    sandbox.sandbox.add_webhook_endpoint(served.url + "/api/webhooks/stripe", WEBHOOK_SECRET)
    yield app
    served.stop()


def cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input, catch_exceptions=False)


def snapshot_db() -> dict:
    return {model.__name__: sorted((row for row in model.select().dicts()), key=str) for model in WATCHED}


def snapshot_redis(conn) -> dict:
    return {key: conn.dump(key) for key in sorted(conn.keys("*"))}


def wait_past_clock_margin(created: int) -> None:
    """Sleep until a fetch made now is surely newer than events of second ``created``
    (shared.sync.ordering.CLOCK_MARGIN_SECONDS): only then may sync overwrite their rows."""
    from shared.sync.ordering import CLOCK_MARGIN_SECONDS

    delay = created + 1 + CLOCK_MARGIN_SECONDS - time.time() + 0.05
    if delay > 0:
        time.sleep(delay)
