"""The worker's health check and its metrics port, against a real Redis."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import peewee
import pytest

from tests.services import free_port
from tests.stripe_fixtures import event, subscription
from tests.worker_helpers import drain, install_context, push
from worker import health, metrics_server
from worker.runner import build_worker


@pytest.mark.parametrize("stored", [b"soon", b"nan", b"inf", b"1" * 400])
def test_a_progress_time_that_is_not_a_time_counts_as_no_progress(settings, db, redis_conn, stored):
    """Whoever can write to Redis may have put anything in the worker's hash: unhealthy, said plainly."""
    worker = build_worker(install_context(settings, redis_conn))
    worker.register_birth()
    worker.heartbeat()
    redis_conn.hset(worker.key, health.PROGRESS_FIELD, stored)
    assert health.stall_problem(redis_conn, 60) == f"no worker on {socket.gethostname()} is registered in Redis"


def test_a_worker_record_rq_cannot_read_fails_the_check_saying_so(settings, db, redis_conn):
    worker = build_worker(install_context(settings, redis_conn))
    worker.register_birth()
    redis_conn.hset(worker.key, health.PROGRESS_FIELD, b"\xff")
    assert health.problem(settings) == "a worker's record in Redis cannot be read (UnicodeDecodeError)"


def test_healthy_only_while_a_worker_on_this_host_progresses(settings, db, redis_conn):
    assert "no worker" in health.stall_problem(redis_conn, 60)
    worker = build_worker(install_context(settings, redis_conn))
    worker.register_birth()
    worker.heartbeat()
    assert health.stall_problem(redis_conn, 60) is None
    assert "no worker on another-container" in health.stall_problem(redis_conn, 60, hostname="another-container")
    later = time.time() + 61  # nothing recorded since: no batch applied, the inbox never found empty
    assert "no progress for 61 s (limit 60 s)" in health.stall_problem(redis_conn, 60, now=later)

    worker.health.failed(peewee.InterfaceError("connection already closed"))
    worker.heartbeat()
    assert "last failure: InterfaceError at" in health.stall_problem(redis_conn, 60, now=later)
    worker.health.progressed()
    worker.heartbeat()
    assert health.stall_problem(redis_conn, 60, now=time.time() + 30) is None
    worker.register_death()
    assert "no worker" in health.stall_problem(redis_conn, 60)


def healthcheck_env(monkeypatch, redis_url, database_url):
    for name, value in {
        "SECRET_KEY": "x" * 40,
        "REDIS_URL": redis_url,
        "STRIPE_SECRET_KEY": "sk_test_h",
        "STRIPE_WEBHOOK_SECRET": "whsec_h",
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
    }.items():
        monkeypatch.setenv(name, value)


def test_healthcheck_command_exits_1_without_a_worker(db_url, redis_url, redis_conn, monkeypatch, capsys):
    from worker.runner import main

    healthcheck_env(monkeypatch, redis_url, db_url)
    assert main(["--healthcheck"]) == 1
    assert "unhealthy: no worker on" in capsys.readouterr().out


def test_healthcheck_fails_while_redis_or_the_database_cannot_be_reached(
    settings, db, db_url, redis_url, redis_conn, monkeypatch, capsys
):
    from worker.runner import main

    worker = build_worker(install_context(settings, redis_conn))
    worker.register_birth()
    worker.heartbeat()
    healthcheck_env(monkeypatch, redis_url, db_url)
    assert main(["--healthcheck"]) == 0, capsys.readouterr().out

    healthcheck_env(monkeypatch, redis_url, f"postgresql://127.0.0.1:{free_port()}/nothing_listens_here")
    assert main(["--healthcheck"]) == 1
    assert "unhealthy: database unavailable (OperationalError)" in capsys.readouterr().out

    healthcheck_env(monkeypatch, f"redis://127.0.0.1:{free_port()}/0", db_url)
    assert main(["--healthcheck"]) == 1
    assert "unhealthy: redis unavailable (ConnectionError)" in capsys.readouterr().out
    worker.register_death()


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
