"""The worker's health check (compose runs it inside the worker's container).

Healthy means: an RQ worker on this host has sent a heartbeat recently. The
worker beats at least once a second while idle and once per batch while busy,
so a worker stuck or dead stops beating and is restarted.
"""
from __future__ import annotations

import socket

import redis
from rq import Worker
from rq.utils import now

MAX_HEARTBEAT_AGE_SECONDS = 60


def healthy(conn: redis.Redis, hostname: str | None = None, max_age: float = MAX_HEARTBEAT_AGE_SECONDS) -> bool:
    hostname = hostname or socket.gethostname()
    for worker in Worker.all(connection=conn):
        beat = worker.last_heartbeat
        if worker.hostname == hostname and beat and (now() - beat).total_seconds() < max_age:
            return True
    return False
