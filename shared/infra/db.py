"""The database: one peewee proxy, initialised from a URL at start-up.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout;
writes that may conflict take the write lock up front (BEGIN IMMEDIATE) so two
workers never deadlock upgrading a read lock. PostgreSQL is used as it is.
"""

from __future__ import annotations

import contextlib
import os
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

from peewee import (
    DatabaseError,
    DatabaseProxy,
    DataError,
    IntegrityError,
    InterfaceError,
    PostgresqlDatabase,
    SqliteDatabase,
)
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
# Error texts that mean the database failed (it is gone, unreachable, locked,
# read-only after a failover, or full), not the statement's data.
INFRASTRUCTURE_FAULTS = (
    "server closed the connection",
    "terminating connection",
    "connection already closed",
    "cursor already closed",
    "could not connect",
    "connection refused",
    "connection reset",
    "connection timed out",
    "no connection to the server",
    "could not receive data",
    "could not send data",
    "ssl syscall",
    "the database system is",
    "too many clients",
    "database is locked",
    "unable to open database file",
    "disk i/o error",
    "read-only transaction",
    "readonly database",
    "no space left",
    "could not extend file",
    "database or disk is full",
)


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


def is_infrastructure_error(exc: BaseException) -> bool:
    """The database failed, not the statement's data: the connection dropped,
    the server is unreachable, read-only or full, or SQLite's file stayed
    locked past the busy timeout.

    Work that failed so is not at fault: it stays pending and is done again
    once the database answers.
    """
    if not isinstance(exc, (DatabaseError, InterfaceError)) or isinstance(exc, (IntegrityError, DataError)):
        return False
    headline = (str(exc).splitlines() or [""])[0].lower()  # later lines (DETAIL) may quote an event's data
    return any(text in headline for text in INFRASTRUCTURE_FAULTS)


def database_reachable() -> bool:
    """Whether a new connection answers ``SELECT 1`` (the old one is closed first).

    After a failed batch, this tells a database that went away from a batch
    that carries a bad event; the connection left open is a fresh one.
    """
    with contextlib.suppress(Exception):  # noqa: BLE001 - a dead connection may refuse even to close; a new one is opened below
        database.close()
    try:
        database.connect(reuse_if_open=True)
        database.execute_sql("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure to answer is "not reachable"
        return False
