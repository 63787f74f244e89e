"""Real services for the tests: a Redis server, a PostgreSQL schema, free ports."""
from __future__ import annotations

import os
import time
import uuid

from devrun.redis_server import LocalRedis as RedisServer  # noqa: F401 (the tests' name for it)
from devrun.redis_server import free_port  # noqa: F401


def wait_for(check, timeout: float = 15.0, what: str = "condition", interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the service is not up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what} (last error: {last_error})")


def postgres_schema_url(base_url: str) -> tuple[str, str]:
    """A URL whose connections use a fresh schema, so parallel runs never collide."""
    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    import psycopg2

    with psycopg2.connect(base_url) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}", schema


def drop_postgres_schema(base_url: str, schema: str) -> None:
    import psycopg2

    conn = psycopg2.connect(base_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.close()
