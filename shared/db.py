"""The database: one peewee proxy, initialised from a URL at start-up.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout;
writes that may conflict take the write lock up front (BEGIN IMMEDIATE) so two
workers never deadlock upgrading a read lock. PostgreSQL is used as it is.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as connect_url

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",  # durable in WAL mode across process crashes
    "busy_timeout": 30_000,
}
# libpq waits for an unreachable or silent server as long as TCP does (minutes,
# or for ever once connected); requests and /readyz must fail fast instead.
# A connect_timeout in DATABASE_URL's query wins.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def init_database(url: str):
    """Point the shared proxy at the database named by ``url`` and return it."""
    db = open_database(url)
    database.initialize(db)
    return db


def open_database(url: str):
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        return connect_url(url, pragmas=SQLITE_PRAGMAS, timeout=30)
    if scheme.startswith("postgres"):
        if "connect_timeout" in parse_qs(urlparse(url).query):
            return connect_url(url)
        return connect_url(url, connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS)
    raise ValueError(f"DATABASE_URL scheme {scheme!r} is not supported (sqlite or postgresql)")


def _ensure_sqlite_folder(url: str) -> None:
    path = urlparse(url).path[1:]
    folder = os.path.dirname(path)
    if path and path != ":memory:" and folder:
        os.makedirs(folder, exist_ok=True)


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


def write_transaction():
    """A transaction for writes that can conflict with another process.

    On SQLite it starts with BEGIN IMMEDIATE; on PostgreSQL row locks
    (SELECT ... FOR UPDATE) taken by the caller do the same job.
    """
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()



@contextmanager
def unit_of_work():
    """One batch or one job on this thread's connection, which stays open for the next.

    After a failure the connection is closed, so the next unit opens a new one:
    a connection the server dropped (a restart, a failover, a terminated
    backend, ``idle_session_timeout``) answers every later query with
    "connection already closed" and must not stay in use. Reconnecting happens
    here, between units of work, never inside a transaction (peewee's
    ReconnectMixin retries a query mid-transaction, which is unsafe on
    PostgreSQL). A database that is still down fails the next unit at connect.
    """
    database.connect(reuse_if_open=True)
    try:
        yield
    except BaseException:
        database.close()  # the unit's transaction has unwound; closing a dead connection does not raise
        raise
