"""The subscription rows one batch works on: locked up front, changed in memory,
written back in one statement.

Locking every row the batch touches at the start, in id order, gives all
batches the same lock order, so concurrent workers on PostgreSQL cannot
deadlock. Changing them in memory and writing them back with one bulk upsert
keeps the cost per event to Python work, not SQL statements.

A row whose access-relevant columns changed bumps the access version of its
customer's user in the same transaction, so the host app's answer says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.infra import bulk
from shared.infra.access_changes import bump_access_versions
from shared.infra.db import is_postgres
from shared.infra.models import ANSWERED_SUBSCRIPTION_COLUMNS, Subscription, User

WRITABLE = [field for field in Subscription._meta.sorted_fields if field.name != "id"]
CUSTOMER = ANSWERED_SUBSCRIPTION_COLUMNS.index("customer_id")


def answered(row: Subscription) -> tuple:
    return tuple(getattr(row, name) for name in ANSWERED_SUBSCRIPTION_COLUMNS)


class LockedSubscriptions:
    def __init__(self):
        self.rows: dict[str, Subscription] = {}
        self.dirty: set[str] = set()
        self.as_locked: dict[str, tuple] = {}

    def lock(self, wanted: Mapping[str, str | None]) -> None:
        """Create (empty) and lock the rows ``{subscription id: customer id}``."""
        ids = sorted(set(wanted) - set(self.rows))
        if not ids:
            return
        placeholders = [Subscription(id=sub_id, customer_id=wanted[sub_id] or "") for sub_id in ids]
        bulk.insert_rows(
            "subscription placeholders", Subscription, placeholders, lambda insert: insert.on_conflict_ignore()
        )
        query = Subscription.select().where(Subscription.id.in_(ids)).order_by(Subscription.id)
        if is_postgres():
            query = query.for_update()
        for row in query:
            self.rows[row.id] = row
            self.as_locked[row.id] = answered(row)

    def get(self, sub_id: str | None) -> Subscription | None:
        return self.rows.get(sub_id) if sub_id else None

    def locked(self, sub_id: str | None) -> Subscription:
        """The row ``lock`` took for this id; a KeyError names a caller that did not lock it."""
        row = self.get(sub_id)
        if row is None:
            raise KeyError(f"subscription {sub_id!r} was not locked for this batch")
        return row

    def change(self, row: Subscription, columns: dict) -> None:
        for name, value in columns.items():
            setattr(row, name, value)
        self.dirty.add(row.id)

    def flush(self) -> None:
        """Write changed rows back; drop placeholders that nothing filled."""
        changed = [self.rows[sub_id] for sub_id in sorted(self.dirty)]
        bulk.insert_rows(
            "subscription upsert",
            Subscription,
            changed,
            lambda insert: insert.on_conflict(conflict_target=[Subscription.id], preserve=WRITABLE),
        )
        empty = [
            row.id
            for row in self.rows.values()
            if row.id not in self.dirty and row.status is None and row.invoice_version_created == 0
        ]
        if empty:
            Subscription.delete().where(Subscription.id.in_(empty), Subscription.status.is_null()).execute()
        self._bump_changed_answers(changed)
        self.dirty.clear()

    def _bump_changed_answers(self, changed: list[Subscription]) -> None:
        customers: set[str] = set()
        for row in changed:
            before = self.as_locked[row.id]
            after = answered(row)
            if before != after:
                customers.update({before[CUSTOMER], after[CUSTOMER]} - {""})
                self.as_locked[row.id] = after
        if customers:
            bump_access_versions(User.stripe_customer_id.in_(sorted(customers)))
