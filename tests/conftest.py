"""Fixtures: a real Redis, real SQLite files and a real PostgreSQL.

- Redis: ``REDIS_URL`` if set, else a redis-server started for this session.
- PostgreSQL: ``TEST_DATABASE_URL`` if set, else a server started for this
  session (devrun.postgres_server).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest
import redis as redis_lib

from devrun.postgres_server import LocalPostgres
from portal_service import create_app
from shared.infra import migrations
from shared.infra.db import database, init_database
from stripe_sandbox.server import run_in_thread
from tests.auth_helpers import register
from tests.ops_helpers import ServedApp
from tests.services import RedisServer, drop_postgres_schema, postgres_schema_url
from tests.settings_helpers import STRIPE_UNREACHABLE, WEBHOOK_SECRET, make_settings
from tests.worker_helpers import stripe_client_for


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of the test's own, for tests that stop it (the session's Redis stays up)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_conn(redis_url):
    conn = redis_lib.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def postgres_base_url():
    """The PostgreSQL server to make schemas on, for tests that run on PostgreSQL alone."""
    return _postgres_base_url()


def _postgres_base_url():
    return os.environ["TEST_DATABASE_URL"]  # set by pytest_sessionstart when not given


def pytest_sessionstart(session):
    """Without TEST_DATABASE_URL the suite runs on a PostgreSQL of its own, as it does on a Redis of its own."""
    if os.environ.get("TEST_DATABASE_URL"):
        return
    server = LocalPostgres(Path(tempfile.mkdtemp(prefix="portal-test-postgres-"))).start()
    session.config.stash[LOCAL_POSTGRES] = server
    os.environ["TEST_DATABASE_URL"] = server.url  # the processes the tests start inherit it


def pytest_sessionfinish(session):
    server = session.config.stash.get(LOCAL_POSTGRES, None)
    if server is not None:
        server.stop()
        del os.environ["TEST_DATABASE_URL"]


LOCAL_POSTGRES = pytest.StashKey[LocalPostgres]()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.db'}"
        return
    base = _postgres_base_url()
    url, schema = postgres_schema_url(base)
    yield url
    drop_postgres_schema(base, schema)


@pytest.fixture
def db(db_url):
    """The shared database proxy on a fresh, migrated database."""
    init_database(db_url)
    with database.connection_context():
        migrations.upgrade()
    database.connect(reuse_if_open=True)
    yield database
    database.close()


@pytest.fixture
def settings(db_url, redis_url):
    return make_settings(db_url, redis_url)


@pytest.fixture
def app(settings, db, redis_conn):
    # Against no Stripe at all, the production client's retries (and their back-off sleeps) prove nothing.
    unreachable = settings.stripe_api_base == STRIPE_UNREACHABLE
    app = create_app(settings, stripe_client=stripe_client_for(settings) if unreachable else None)
    app.config.update(TESTING=True)
    yield app
    if app.extensions["access_cache"] is not None:
        app.extensions["access_cache"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def signed_in_client(app):
    """A client signed in as a new account, registered through the real form."""
    client = app.test_client()
    assert register(client).status_code == 302
    return client


@pytest.fixture
def web(tmp_path, redis_url, redis_conn):
    """The web app on a database file that must never be opened by this path."""
    db_file = tmp_path / "never-opened.db"
    app = create_app(make_settings(f"sqlite:///{db_file}", redis_url, webhook_max_bytes=64 * 1024))
    yield app.test_client()
    assert not db_file.exists(), "the webhook path opened the database"


@pytest.fixture
def sandbox():
    """A fresh offline Stripe sandbox for one test."""
    with run_in_thread(retry_delays=(0.05,)) as running:
        yield running


@pytest.fixture(scope="module")
def sb():
    """One sandbox for a module's tests, each of which resets it (``sb.sandbox.reset()``)."""
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
