"""Real services for the tests: a Redis server, a PostgreSQL schema, free ports.

Redis, the PostgreSQL schema helpers and wait_for live in devrun/ (the
benchmarks and the fault suite use them too, and must not import from
tests/); the tests know them by these names.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import pytest

from devrun.postgres import drop_postgres_schema, postgres_schema_url  # noqa: F401
from devrun.redis_server import LocalRedis as RedisServer  # noqa: F401 (the tests' name for it)
from devrun.redis_server import free_port
from devrun.waiting import wait_for  # noqa: F401

# For a test about a database server (a dropped connection, a terminated
# backend): SQLite has no server, so such a test runs on PostgreSQL alone
# (the db_url fixture's "postgres" case) instead of being skipped on SQLite.
postgres_only = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


def require_program(path: str | None, install_hint: str) -> None:
    """A system program an end-to-end test drives: skip without it, except under CI."""
    if path and os.path.exists(path):
        return
    message = f"{install_hint} (scripts/test installs it when run as root)"
    if os.environ.get("CI"):
        pytest.fail(message + " — end-to-end tests may not be skipped in CI")
    pytest.skip(message)


class TcpProxy:
    """A TCP forwarder on a fixed port: stop() drops every connection and refuses new
    ones, as a database server that restarts or fails over does; start() again heals it."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> TcpProxy:
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self.lock:
            doomed, self.sockets = [self.listener, *self.sockets], []
            self.listener = None
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                return  # stopped
            server.settimeout(None)
            with self.lock:
                self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def refuse_updates(table: str, message: str) -> None:
    """Every UPDATE of ``table`` fails with ``message`` (a trigger), on the test's database."""
    from shared.infra.db import database, is_postgres

    if is_postgres():
        database.execute_sql(
            f"CREATE FUNCTION refuse_{table}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$ "
            "LANGUAGE plpgsql"
        )
        database.execute_sql(
            f"CREATE TRIGGER refuse BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"
        )
    else:
        database.execute_sql(
            f"CREATE TRIGGER refuse BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
