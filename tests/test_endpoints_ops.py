"""/healthz, /readyz and /metrics against real Redis and real databases."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal_service import create_app
from shared.infra import migrations
from shared.infra.db import POSTGRES_CONNECT_TIMEOUT_SECONDS, database, init_database, open_database
from shared.sync import reconcile
from tests.services import RedisServer, TcpProxy
from tests.settings_helpers import WEBHOOK_SECRET, make_settings
from tests.stripe_fixtures import body_of, event, sign, subscription
from tests.worker_helpers import drain, push

WEBHOOK = "/api/webhooks/stripe"


def scrape(client, **kwargs) -> dict[tuple, float]:
    """The exposition parsed into {(sample name, sorted labels): value}."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_answers_without_touching_redis_or_the_database(tmp_path):
    from tests.services import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}", dead))
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_is_200_when_every_check_passes(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"ready": True, "checks": {"redis": "ok", "database": "ok", "migrations": "ok"}}


def test_readyz_is_503_while_redis_is_stopped_and_200_once_it_is_back(settings, db, tmp_path):
    private = RedisServer(tmp_path / "redis").start()
    try:
        client = create_app(dataclasses.replace(settings, redis_url=private.url)).test_client()
        assert client.get("/readyz").status_code == 200
        private.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.get_json()["checks"]
        assert checks["redis"].startswith("unavailable") and checks["database"] == "ok"
        private.start()  # the same port again
        assert client.get("/readyz").status_code == 200
    finally:
        private.stop()


@pytest.fixture
def outage(db_url, tmp_path):
    """A database URL and a switch that makes that database unreachable and back."""
    if db_url.startswith("sqlite"):
        folder = tmp_path / "dbdir"
        folder.mkdir()
        yield f"sqlite:///{folder / 'portal.db'}", _FolderSwitch(folder)
        return
    parts = urlsplit(db_url)
    forwarder = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    netloc = parts.netloc.replace(
        f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname, f"127.0.0.1:{forwarder.port}"
    )
    yield urlunsplit(parts._replace(netloc=netloc)), forwarder
    forwarder.stop()


class _FolderSwitch:
    """SQLite is unreachable when its folder is gone (as with an unmounted volume)."""

    def __init__(self, folder):
        self.folder, self.away = folder, folder.with_name("dbdir-away")

    def stop(self):
        shutil.move(self.folder, self.away)

    def start(self):
        shutil.move(self.away, self.folder)


def test_readyz_is_503_while_the_database_is_unreachable_and_200_once_it_is_back(outage, redis_url, redis_conn):
    url, switch = outage
    init_database(url)
    with database.connection_context():
        migrations.upgrade()
    client = create_app(make_settings(url, redis_url)).test_client()
    assert client.get("/readyz").status_code == 200
    switch.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"].startswith("unavailable (")
    assert (checks["redis"], checks["migrations"]) == ("ok", "not checked: no database")
    switch.start()
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("query, waits", [("", POSTGRES_CONNECT_TIMEOUT_SECONDS), ("?connect_timeout=1", 1)])
def test_readyz_gives_up_on_a_postgres_server_that_never_answers(redis_url, redis_conn, query, waits):
    """The kernel completes the TCP handshake, nobody speaks: without a timeout libpq waits for ever."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"postgresql://portal@127.0.0.1:{silent.getsockname()[1]}/portal{query}"
    assert open_database(url).connect_params["connect_timeout"] == waits
    client = create_app(make_settings(url, redis_url)).test_client()
    answers = []
    probe = threading.Thread(target=lambda: answers.append(client.get("/readyz")), daemon=True)
    probe.start()
    probe.join(60)  # a liveness bound far above the timeout, not a speed check
    silent.close()
    assert answers, "/readyz still waiting for a database that never answers"
    assert answers[0].status_code == 503
    assert answers[0].get_json()["checks"]["database"] == "unavailable (OperationalError)"


def test_readyz_is_503_while_migrations_are_pending(tmp_path, redis_url, redis_conn):
    client = create_app(make_settings(f"sqlite:///{tmp_path / 'fresh.db'}", redis_url)).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    every = ", ".join(str(version) for version, _, _ in migrations.MIGRATIONS)
    assert response.get_json()["checks"]["migrations"] == f"pending: {every}"


def test_metrics_without_a_token_are_only_for_loopback(client):
    assert client.get("/metrics").status_code == 200
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 403
    assert response.get_json() == {"error": "Metrics only from this machine"}


def test_metrics_with_a_token_need_the_bearer_even_from_loopback(settings, db, redis_conn):
    client = create_app(dataclasses.replace(settings, metrics_token="s3cret-scrape")).test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    response = client.get(
        "/metrics", headers={"Authorization": "Bearer s3cret-scrape"}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_a_sync_record_that_is_not_numbers_does_not_break_the_scrape(client, redis_conn):
    """Whoever can write to Redis may have put text in the last sync's record: the numbers that are there count."""
    redis_conn.hset(reconcile.LAST_RUN_KEY, mapping={"created": "lots", "changed": "2", "finished_at": "nan"})
    samples = scrape(client)  # 200, not a 500
    assert value(samples, "portal_sync_drift", kind="changed") == 2
    assert value(samples, "portal_sync_drift", kind="created") == 0


def test_metrics_count_webhooks_events_queue_and_lag(client, settings, redis_conn):
    before = scrape(client)
    evt = event("customer.subscription.updated", subscription(customer="cus_M"))
    body = body_of(evt)
    assert client.post(WEBHOOK, data=body, headers={"Stripe-Signature": sign(body, "whsec_wrong")}).status_code == 400
    assert client.post(WEBHOOK, data=body, headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)}).status_code == 200
    big = b"x" * (settings.webhook_max_bytes + 1)
    assert client.post(WEBHOOK, data=big, headers={"Stripe-Signature": sign(big, WEBHOOK_SECRET)}).status_code == 413

    queued = scrape(client)
    for outcome, delta in (("bad_signature", 1), ("accepted", 1), ("too_large", 1), ("stale", 0)):
        name = "portal_webhooks_received_total"
        assert value(queued, name, outcome=outcome) - value(before, name, outcome=outcome) == delta, outcome
    enqueued = "portal_webhook_enqueue_seconds_count"
    assert value(queued, enqueued) - value(before, enqueued) == 1
    assert value(queued, "portal_inbox_depth") == 1
    assert 0 <= value(queued, "portal_inbox_oldest_age_seconds") < 60
    assert value(queued, "portal_redis_up") == 1

    drain(settings, redis_conn)
    applied = scrape(client)
    name = "portal_events_total"
    labels = {"type": "customer.subscription.updated", "outcome": "applied"}
    assert value(applied, name, **labels) - value(before, name, **labels) == 1
    assert value(applied, "portal_event_lag_seconds_count") - value(before, "portal_event_lag_seconds_count") == 1
    assert value(applied, "portal_inbox_depth") == 0
    assert value(applied, "portal_inbox_oldest_age_seconds") == 0


def test_failed_events_are_a_gauge(client, settings, redis_conn):
    from tests.stripe_fixtures import checkout_session

    push(redis_conn, event("checkout.session.completed", checkout_session(customer="cus_F", email="x@example.com")))
    drain(dataclasses.replace(settings, worker_max_retries=0), redis_conn)
    assert value(scrape(client), "portal_failed_events") == 1


def test_a_redis_outage_during_a_scrape_shows_as_redis_up_0(settings, db, tmp_path):
    private = RedisServer(tmp_path / "redis").start()
    client = create_app(dataclasses.replace(settings, redis_url=private.url)).test_client()
    private.stop()
    samples = scrape(client)
    assert value(samples, "portal_redis_up") == 0
    assert ("portal_inbox_depth", ()) not in samples


def test_gunicorn_config_loads_and_metrics_add_up_across_processes(tmp_path, redis_url, redis_conn):
    """Two gunicorn workers, PROMETHEUS_MULTIPROC_DIR: /metrics counts requests served by either."""
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from tests.services import free_port, wait_for

    port = free_port()
    db_file = tmp_path / "g.db"
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
        "SECRET_KEY": "x" * 40,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{db_file}",
        "STRIPE_SECRET_KEY": "sk_test_gunicorn",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "APP_ENV": "test",
    }
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen(
        [gunicorn, "-c", "gunicorn.conf.py", "portal_service:create_app()"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(base + "/healthz", timeout=2).status == 200, what="gunicorn")
        for _ in range(20):
            request = urllib.request.Request(
                base + WEBHOOK, data=b"{}", method="POST", headers={"Stripe-Signature": "t=1,v1=00"}
            )
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=5)
        text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    finally:
        process.terminate()
        process.wait(10)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert value(samples, "portal_webhooks_received_total", outcome="bad_signature") == 20
    assert len(os.listdir(tmp_path / "prom")) >= 1
