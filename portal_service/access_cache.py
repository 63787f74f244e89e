"""The access check's inputs, kept per web process and evicted by PostgreSQL's change feed.

An entry is what the access check reads for one user (the user and their
subscriptions, as shared.billing.status builds them) and the row of each live
key that asked; the answer itself is made on every request, because time alone
can change it. Entries are trusted only while the change feed
(shared.infra.change_feed) is heard: when no beat sent in the last
TRUST_SECONDS has come back, nothing is served from memory; a lost connection
empties the cache, and every request asks the database until a new one is
heard.

A request that read the database stores what it read only if no change
arrived meanwhile (``epoch``): a change that committed during its read may
already have been announced, and what it read would then outlive it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from shared.infra.change_feed import TRUST_SECONDS, Change, ChangeListener

Answer = tuple[Any, list]  # (User, [Subscription]) as shared.billing.status.users_from_rows builds them


class AccessCache:
    """Bounded per-process store of answer inputs by external id, and of key rows by lookup."""

    def __init__(self, max_users: int, clock=time.monotonic):
        self.max_users = max_users
        self.clock = clock
        self.lock = threading.Lock()
        self.keys: dict[str, tuple] = {}
        self.users: dict[str, Answer] = {}
        self.customers: dict[str, str] = {}  # Stripe customer id -> external id, to evict on ``c:`` changes
        self.epoch = 0
        self.heard_at: float | None = None  # None: not listening, so nothing is trusted
        self.listener_pid: int | None = None
        self.listener: ChangeListener | None = None

    def listen(self, database_url: str) -> None:
        """Start this process's listener, once (a forked web worker starts its own)."""
        if self.listener_pid == os.getpid():
            return
        with self.lock:
            if self.listener_pid != os.getpid():
                self.listener_pid = os.getpid()
                self.listener = ChangeListener(database_url, self)
                self.listener.start()

    def close(self) -> None:
        """Stop listening (for a test's app; a web process's listener ends with the process)."""
        if self.listener is not None:
            self.listener.stop()
            self.listener.join(timeout=10)

    def trusted(self) -> bool:
        heard = self.heard_at
        return heard is not None and self.clock() - heard < TRUST_SECONDS

    def get(self, lookup: str, external_id: str) -> tuple[tuple, Answer] | None:
        if not self.trusted():
            return None
        key_row, answer = self.keys.get(lookup), self.users.get(external_id)
        return (key_row, answer) if key_row is not None and answer is not None else None

    def put(self, epoch: int, lookup: str, key_row: tuple, external_id: str, answer: Answer) -> bool:
        """Keep what a request read at ``epoch``, unless a change arrived since; whether it was kept."""
        with self.lock:
            if epoch != self.epoch or not self.trusted():
                return False
            if external_id not in self.users and len(self.users) >= self.max_users:
                self._evict_user(next(iter(self.users)))
            self.keys[lookup] = key_row
            self.users[external_id] = answer
            customer_id = answer[0].stripe_customer_id
            if customer_id:
                self.customers[customer_id] = external_id
            return True

    # The change feed's side (shared.infra.change_feed.ChangeConsumer), on the listener's thread.

    def listening(self) -> None:
        """A new connection: what an earlier one missed is unknown, and nothing is trusted until heard."""
        with self.lock:
            self.heard_at = None
            self._forget_all()

    def changed(self, changes: list[Change]) -> None:
        with self.lock:
            self.epoch += 1
            for change in changes:
                if change.kind == "user":
                    self._evict_user(change.key)
                elif change.kind == "customer":
                    self._evict_user(self.customers.get(change.key, ""))
                else:
                    self._forget_all()

    def heard(self, sent_at: float) -> None:
        """Every change committed before ``sent_at`` (this clock's time) has been handed over."""
        self.heard_at = max(self.heard_at or sent_at, sent_at)

    def lost(self) -> None:
        with self.lock:
            self.heard_at = None
            self._forget_all()

    def _evict_user(self, external_id: str) -> None:
        answer = self.users.pop(external_id, None)
        customer_id = answer[0].stripe_customer_id if answer else None
        if customer_id and self.customers.get(customer_id) == external_id:
            del self.customers[customer_id]

    def _forget_all(self) -> None:
        self.epoch += 1
        self.keys.clear()
        self.users.clear()
        self.customers.clear()
