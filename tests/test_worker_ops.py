"""The worker's health check and its metrics port, against a real Redis."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.services import free_port
from tests.stripe_fixtures import event, subscription
from tests.worker_helpers import drain, install_context, push
from worker import health, metrics_server
from worker.runner import build_worker


def test_healthy_only_while_a_worker_on_this_host_beats(settings, db, redis_conn):
    assert not health.healthy(redis_conn)
    worker = build_worker(install_context(settings, redis_conn))
    worker.register_birth()
    worker.heartbeat()
    assert health.healthy(redis_conn)
    assert not health.healthy(redis_conn, hostname="another-container")
    assert not health.healthy(redis_conn, max_age=0)  # a beat that is too old
    worker.register_death()
    assert not health.healthy(redis_conn)


def test_healthcheck_command_exits_1_without_a_worker(redis_url, redis_conn, monkeypatch):
    from worker.runner import main

    for name, value in {"SECRET_KEY": "x" * 40, "REDIS_URL": redis_url, "STRIPE_SECRET_KEY": "sk_test_h",
                        "STRIPE_WEBHOOK_SECRET": "whsec_h", "APP_ENV": "test"}.items():
        monkeypatch.setenv(name, value)
    assert main(["--healthcheck"]) == 1


@pytest.fixture
def exporter():
    def start(token=None):
        server = metrics_server.serve(free_port(), token, host="127.0.0.1")
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/metrics"

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_worker_metrics_port_serves_its_event_counts(exporter, settings, db, redis_conn):
    url = exporter()
    push(redis_conn, event("customer.subscription.created", subscription(customer="cus_W"), created=100))
    drain(settings, redis_conn)
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'portal_events_total{outcome="applied",type="customer.subscription.created"}' in text
    assert "portal_inbox_depth" not in text  # the web reports the shared queue, once


def test_worker_metrics_port_wants_the_bearer_token_when_set(exporter):
    url = exporter(token="w-token")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 403
    request = urllib.request.Request(url, headers={"Authorization": "Bearer w-token"})
    assert urllib.request.urlopen(request, timeout=5).status == 200
