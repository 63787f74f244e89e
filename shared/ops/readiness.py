"""Is this process ready to serve? Each check answers None (fine) or why not.

Errors are named by kind only: /readyz is public and an exception's text can
hold a host name or a path.
"""

from __future__ import annotations

import logging

import redis

from shared.infra import migrations
from shared.infra.db import why_unreachable

log = logging.getLogger("portal.readiness")


def check_redis(conn: redis.Redis) -> str | None:
    try:
        conn.ping()
    except redis.RedisError as exc:
        return _unavailable("redis", exc)
    return None


def check_database() -> str | None:
    """On a new connection: the web keeps its connections open, and one may outlive a lost SQLite file."""
    problem = why_unreachable()
    return _unavailable("database", problem) if problem else None


def check_migrations() -> str | None:
    waiting = migrations.pending()
    if waiting:
        return "pending: " + ", ".join(str(version) for version, _ in waiting)
    return None


def readiness(conn: redis.Redis) -> dict[str, str]:
    """Every check by name: "ok" or the reason it failed (migrations need the database)."""
    checks = {"redis": check_redis(conn), "database": check_database()}
    checks["migrations"] = "not checked: no database" if checks["database"] else check_migrations()
    return {name: problem or "ok" for name, problem in checks.items()}


def _unavailable(what: str, exc: Exception) -> str:
    log.warning("%s not ready: %s", what, exc)
    return f"unavailable ({type(exc).__name__})"
