"""Real services for the tests: a Redis server, a PostgreSQL schema, free ports.

They live in devrun/ (the benchmarks and the fault suite use them too, and
must not import from tests/); the tests know them by these names.
"""
from __future__ import annotations

from devrun.postgres import drop_postgres_schema, postgres_schema_url  # noqa: F401
from devrun.redis_server import LocalRedis as RedisServer  # noqa: F401 (the tests' name for it)
from devrun.redis_server import free_port  # noqa: F401
from devrun.waiting import wait_for  # noqa: F401
