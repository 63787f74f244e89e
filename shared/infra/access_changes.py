"""An access answer changed: its version grows and the host app is to be told, in the same transaction.

Every write that changes what GET /api/v1/customers/<id>/access answers goes
through here (subscription rows: shared.sync.locked_rows; links and emails:
shared.sync.handlers, shared.accounts.users). A rolled-back transaction
notifies nobody; a committed one leaves a pending notification that the
worker delivers (shared.billing.host_notifications).
"""

from __future__ import annotations

from peewee import EXCLUDED, Case, fn

from shared.infra.models import HostNotification, User
from shared.infra.timeutil import utcnow


def bump_access_versions(*where) -> int:
    """Mark the answers of the users ``where`` selects as changed; returns how many."""
    changed = User.update(access_version=User.access_version + 1).where(*where).execute()
    if changed:
        record_changes(*where)
    return changed


def record_changes(*where) -> None:
    """Note the new version of each (host-app) user ``where`` selects, for delivery.

    A row already pending takes the newer version and keeps its first pending
    time; one being sent (claimed) keeps its claim, so a user's versions go
    out one at a time, in order; a failed or delivered one is pending again.
    """
    now = utcnow()
    note = HostNotification
    users = User.select(User.id, User.access_version, HostNotification.PENDING, now, now, 0)
    users = users.where(User.external_id.is_null(False), *where)
    fields = [note.user_id, note.version, note.state, note.pending_since, note.next_attempt_at, note.attempts]
    still_pending = Case(None, [(note.state == HostNotification.PENDING, note.pending_since)], None)
    update = {
        note.version: EXCLUDED.version,
        note.state: HostNotification.PENDING,
        note.attempts: 0,
        note.pending_since: fn.COALESCE(still_pending, now),
        note.next_attempt_at: Case(None, [(note.claim.is_null(), now)], note.next_attempt_at),
    }
    note.insert_from(users, fields).on_conflict(conflict_target=[note.user_id], update=update).execute()
