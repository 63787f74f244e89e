"""Fixtures: a real Redis, real SQLite files and a real PostgreSQL.

- Redis: ``REDIS_URL`` if set, else a redis-server started for this session.
- PostgreSQL: ``TEST_DATABASE_URL``; without it the PostgreSQL half of the
  database tests is skipped, except under CI, where that is an error.
"""

from __future__ import annotations

import os

import pytest
import redis as redis_lib

from shared.infra import migrations
from shared.infra.db import database, init_database
from shared.infra.settings import Settings
from tests.services import RedisServer, drop_postgres_schema, postgres_schema_url

WEBHOOK_SECRET = "whsec_test_secret_for_the_suite"
SECOND_SECRET = "whsec_second_secret_after_rotation"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def redis_conn(redis_url):
    conn = redis_lib.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


def _postgres_base_url():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL must be set in CI: the PostgreSQL tests may not be skipped")
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL half skipped")
    return url


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


def make_settings(db_url: str, redis_url: str, **overrides) -> Settings:
    values = dict(
        secret_key="test-secret-key-that-is-long-enough-for-production",
        database_url=db_url,
        redis_url=redis_url,
        stripe_secret_key="sk_test_suite",
        stripe_webhook_secrets=(WEBHOOK_SECRET, SECOND_SECRET),
        stripe_api_base="http://127.0.0.1:9",  # refused unless a test starts the sandbox
        app_env="test",
        billing_plans=("basic", "pro"),
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url, redis_url):
    return make_settings(db_url, redis_url)


@pytest.fixture
def app(settings, db, redis_conn):
    from portal_service import create_app

    app = create_app(settings)
    app.config.update(TESTING=True)
    yield app


@pytest.fixture
def client(app):
    return app.test_client()
