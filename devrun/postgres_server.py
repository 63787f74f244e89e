"""A PostgreSQL of our own, for a test run on a machine that has none: the server the pgserver wheel ships.

pgserver initialises the data folder and, when run as root (which postgres
refuses), a system user to own it; it then serves on a socket only. The
suite's fault tests cut and restore TCP connections, so the server is started
again on a free loopback port, with trust authentication as pgserver sets it.
"""

from __future__ import annotations

import atexit
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from devrun.redis_server import free_port

if TYPE_CHECKING:
    from pgserver import PostgresServer

STOP = ["-w", "-m", "fast", "stop"]
logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every command it runs at INFO


class LocalPostgres:
    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.server: PostgresServer | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> LocalPostgres:
        import pgserver

        server = self.server = pgserver.get_server(self.directory, cleanup_mode=None)
        data, user = server.pgdata, server.system_user
        pg_ctl = _pg_ctl()
        pg_ctl(STOP, pgdata=data, user=user, timeout=60)
        listen = f"-h 127.0.0.1 -p {self.port} -k {data}"
        pg_ctl(["-w", "-o", listen, "-l", str(data / "tcp.log"), "start"], pgdata=data, user=user, timeout=60)
        return self

    def stop(self) -> None:
        if self.server is not None:
            _pg_ctl()(STOP, pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)
            atexit.unregister(self.server._cleanup)  # stopped here; its exit hook would only log to a closed stream
            shutil.rmtree(self.directory, ignore_errors=True)


def _pg_ctl():
    """pgserver's pg_ctl runner: as the data folder's owner, never hanging on the server's output."""
    from pgserver._commands import create_command_function

    return create_command_function("pg_ctl")
