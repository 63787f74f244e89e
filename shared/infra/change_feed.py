"""PostgreSQL tells listeners, at commit, which access answers a write changed.

Triggers on every table an access answer reads (migration 7) send a
notification on the ``portal_access`` channel: ``u:<external id>`` for a user
row, ``c:<customer id>`` for a subscription or entitlement row, and ``*`` for
anything that touches API keys or empties a table. PostgreSQL delivers them
only once the writing transaction commits, and whoever wrote (the worker,
``sync``, the web, an operator with psql), so a cache evicted by them needs
no hook in any writer. SQLite has no such channel: nothing here runs on it.

``ChangeListener`` is a thread holding one connection that LISTENs. Its
consumer is told when it starts listening (anything missed before is unknown:
start afresh), of every change, when a beat it sent has come back (so every
change committed before that has arrived), and when the connection is lost.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared.infra.db import open_database

log = logging.getLogger("portal.change_feed")
CHANNEL = "portal_access"
EVERYTHING = "*"
HEARTBEAT_SECONDS = 0.5
# A consumer whose last returned beat was sent longer ago than this stops trusting.
TRUST_SECONDS = 4 * HEARTBEAT_SECONDS
# After a commit, by this time every consumer has heard the change or stopped trusting
# (a beat sent after the commit comes back behind it); the rest is margin.
SETTLED_SECONDS = TRUST_SECONDS + HEARTBEAT_SECONDS
RECONNECT_SECONDS = (0.1, 0.5, 1, 2, 5)
# A lost server must be noticed in seconds, not after TCP's minutes of retries.
CONNECTION_OPTIONS = {
    "application_name": "portal-access-listener",
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 3000,
}


@dataclass(frozen=True)
class Change:
    """What a notification names: a user by external id, a Stripe customer, or everything."""

    kind: str  # "user", "customer" or "everything"
    key: str = ""


def parse(payload: str) -> Change:
    kind, _, key = payload.partition(":")
    if kind == "u" and key:
        return Change("user", key)
    if kind == "c" and key:
        return Change("customer", key)
    return Change("everything")  # "*", or a payload someone else sent on the channel: be safe


class ChangeConsumer(Protocol):
    def listening(self) -> None: ...
    def changed(self, changes: list[Change]) -> None: ...
    def heard(self, sent_at: float) -> None: ...
    def lost(self) -> None: ...


class ChangeListener(threading.Thread):
    """LISTENs on CHANNEL for one process, reconnecting for ever; tells ``consumer`` what it hears.

    Every HEARTBEAT_SECONDS it sends a beat on a channel of its own, through
    the same queue as the changes. PostgreSQL delivers notifications in commit
    order, so its beat coming back proves every change committed before it was
    sent has arrived: ``heard(sent_at)``. A connection that cannot carry
    notifications (dropped, half-open, or behind a pooler in transaction mode)
    returns no beat, and the consumer stops trusting.
    """

    def __init__(self, database_url: str, consumer: ChangeConsumer, sleep: Callable[[float], None] = time.sleep):
        super().__init__(name="access-change-listener", daemon=True)
        self.database_url = database_url
        self.consumer = consumer
        self.sleep = sleep
        self.failures = 0
        self.stopping = threading.Event()
        self.beat_channel = f"portal_beat_{secrets.token_hex(8)}"
        self.beats_missed = 0  # in a row
        self.backend_pid: int | None = None  # the listening connection's server process, while there is one

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - any failure means: stop trusting (done on the way out), reconnect
                delay = RECONNECT_SECONDS[min(self.failures, len(RECONNECT_SECONDS) - 1)]
                self.failures += 1
                log.warning("access change listener stopped (%s: %s); again in %ss", type(exc).__name__, exc, delay)
                self.sleep(delay)

    def _listen(self) -> None:
        database = open_database(self.database_url)
        database.connect_params.update(CONNECTION_OPTIONS)
        connection = database.connection()
        try:
            connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute(f"LISTEN {CHANNEL}; LISTEN {self.beat_channel}")
            _require_triggers(cursor)
            self.backend_pid = connection.get_backend_pid()
            self.consumer.listening()
            self.failures = 0
            for beat in itertools.count():
                if self.stopping.is_set():
                    return
                self._beat(connection, cursor, str(beat))
        finally:
            self.backend_pid = None
            self.consumer.lost()
            database.close()

    def _beat(self, connection, cursor, beat: str) -> None:
        """Send ``beat``, then hand over what arrives for HEARTBEAT_SECONDS."""
        sent_at = time.monotonic()
        cursor.execute("SELECT pg_notify(%s, %s)", (self.beat_channel, beat))
        back = self._hand_over(connection, beat, sent_at)  # psycopg2 reads what came with the answer
        while (left := sent_at + HEARTBEAT_SECONDS - time.monotonic()) > 0:
            if select.select([connection], [], [], left)[0]:
                connection.poll()  # raises on a lost connection
                back = self._hand_over(connection, beat, sent_at) or back
        self._count_beat(back)

    def _hand_over(self, connection, beat: str, sent_at: float) -> bool:
        """Hand over the changes that arrived; whether ``beat`` came back with them."""
        notices = list(connection.notifies)
        connection.notifies.clear()
        changes = [parse(notice.payload) for notice in notices if notice.channel != self.beat_channel]
        if changes:
            self.consumer.changed(changes)
        back = any(notice.channel == self.beat_channel and notice.payload == beat for notice in notices)
        if back:
            self.consumer.heard(sent_at)  # after the changes that came before it
        return back

    def _count_beat(self, back: bool) -> None:
        """Say once when beats stop coming back (nothing is trusted meanwhile), and once when they return."""
        lapse = TRUST_SECONDS / HEARTBEAT_SECONDS
        if back and self.beats_missed >= lapse:
            log.warning("access change feed heard again after %d missed beats", self.beats_missed)
        self.beats_missed = 0 if back else self.beats_missed + 1
        if self.beats_missed == lapse:
            log.warning(
                "access change feed: no beat back for %ss although connected (a pooler in transaction mode "
                "cannot carry LISTEN); access checks ask the database until it is heard again",
                TRUST_SECONDS,
            )


class FeedNotReady(RuntimeError):
    """The triggers that announce changes are not all there (migration 7 not applied)."""


def _require_triggers(cursor) -> None:
    """Without every trigger some changes would go unannounced: then nothing may be trusted."""
    cursor.execute(
        "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace AND t.tgname LIKE 'portal\\_access\\_%'"
    )
    found = cursor.fetchone()[0]
    if found < TRIGGER_COUNT:
        raise FeedNotReady(f"{found} of the {TRIGGER_COUNT} change triggers exist: run `portal-service db upgrade`")


def trigger_sql(user_table: str) -> list[str]:
    """The trigger functions and triggers of migration 7 (PostgreSQL); run again, they change nothing."""
    user = f'"{user_table}"'
    notify = f"PERFORM pg_notify('{CHANNEL}', "
    functions = [
        f"""CREATE OR REPLACE FUNCTION portal_access_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF OLD.external_id IS NOT NULL THEN {notify}'u:' || OLD.external_id); END IF;
          IF TG_OP = 'UPDATE' AND NEW.external_id IS NOT NULL THEN {notify}'u:' || NEW.external_id); END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION portal_access_customer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP <> 'INSERT' THEN {notify}'c:' || OLD.customer_id); END IF;
          IF TG_OP <> 'DELETE' THEN {notify}'c:' || NEW.customer_id); END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION portal_access_everything_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {notify}'{EVERYTHING}'); RETURN NULL; END $$""",
    ]
    key_columns = "lookup, key_hash, scope, name, revoked_at"
    old_key, new_key = (", ".join(f"{row}.{column}" for column in key_columns.split(", ")) for row in ("OLD", "NEW"))
    triggers = [
        ("portal_access_user", user, "AFTER UPDATE", "ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)", "user"),
        ("portal_access_user_deleted", user, "AFTER DELETE", "ROW", "user"),
        *(
            (f"portal_access_{table}", table, "AFTER INSERT OR UPDATE OR DELETE", "ROW", "customer")
            for table in ("subscription", "entitlement", "customer_entitlements")
        ),
        (
            "portal_access_api_key",
            "api_key",
            "AFTER UPDATE",
            f"ROW WHEN (({old_key}) IS DISTINCT FROM ({new_key}))",
            "everything",
        ),
        ("portal_access_api_key_deleted", "api_key", "AFTER DELETE", "STATEMENT", "everything"),
        *(
            (f"portal_access_{table.strip(chr(34))}_emptied", table, "AFTER TRUNCATE", "STATEMENT", "everything")
            for table in (user, "subscription", "entitlement", "customer_entitlements", "api_key")
        ),
    ]
    statements = list(functions)
    for name, table, timing, each, function in triggers:
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        run = f"EXECUTE FUNCTION portal_access_{function}_changed()"
        statements.append(f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH {each} {run}")
    return statements


TRIGGER_COUNT = sum(statement.startswith("CREATE TRIGGER") for statement in trigger_sql("user"))
