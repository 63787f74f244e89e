"""The database: one peewee proxy, initialised from a URL at start-up.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout;
writes that may conflict take the write lock up front (BEGIN IMMEDIATE) so two
workers never deadlock upgrading a read lock. PostgreSQL is used as it is.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg2.errors
from peewee import (
    DatabaseError,
    DatabaseProxy,
    DataError,
    IntegrityError,
    InterfaceError,
    PostgresqlDatabase,
    Query,
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


def execute_compiled(build: Callable[[], Query], params: Sequence) -> Any:
    """Run the query ``build`` makes, compiled once, with ``params``; returns the cursor.

    Peewee compiles a query on every execution, and PostgreSQL parses and
    plans it on every execution: on a hot path both cost more than the query.
    Here peewee compiles once per backend; SQLite's driver caches the statement
    by its text, and on PostgreSQL it runs as a prepared statement, prepared on
    each connection's first use. ``build`` makes the query with a placeholder
    for each parameter, always the same number. Inside a transaction it is
    not prepared: the first use on a connection fails once by design, which
    would abort the transaction.
    """
    sql = _compiled(type(database.obj).__name__, build)
    if not is_postgres() or database.in_transaction():  # a failed EXECUTE would abort the caller's transaction
        return database.execute_sql(sql, params)
    name = "portal_" + build.__name__.strip("_")
    execute = f"EXECUTE {name} ({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}"
    cursor = database.cursor()
    try:
        cursor.execute(execute, params)
    except psycopg2.errors.InvalidSqlStatementName:  # a new connection: prepare it there
        cursor.execute(f"PREPARE {name} AS {_numbered_parameters(sql)}")
        cursor.execute(execute, params)
    return cursor


@functools.lru_cache(maxsize=64)
def _compiled(backend: str, build: Callable[[], Query]) -> str:
    return build().sql()[0]


def _numbered_parameters(sql: str) -> str:
    """psycopg2's %s placeholders as PREPARE's $1, $2, ..."""
    parts = sql.split("%s")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))


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
    return why_unreachable() is None


def why_unreachable() -> Exception | None:
    """What stops a new connection from answering ``SELECT 1``, or None: an old one may still work on a lost file."""
    with contextlib.suppress(Exception):  # noqa: BLE001 - a dead connection may refuse even to close; a new one is opened below
        database.close()
    try:
        database.connect(reuse_if_open=True)
        database.execute_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure to answer is "not reachable"
        return exc
    return None
