"""Telling the host app that a user's access changed: signed POSTs to HOST_WEBHOOK_URL, retried.

The database is the outbox (shared.infra.access_changes writes it with each
change); RQ jobs deliver it. ``lease_due`` hands each due row to one job with
a claim; the job (``deliver``) sends the user's current answer, so a newer
version replaces an older one not yet sent, and records the outcome under its
claim: a 2xx delivers, anything else waits the next delay of the retry schedule,
then fails. A row whose job died is due again when its lease runs out.

Payloads are Standard Webhooks (``standardwebhooks``): the id names the user
and version, so a retry of one version keeps its id.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import peewee
import redis
import requests
from peewee import fn
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from standardwebhooks.webhooks import Webhook

from shared.billing.status import access_answers
from shared.infra.models import HostNotification, User
from shared.infra.parsing import finite_number
from shared.infra.redis_conn import as_text
from shared.infra.settings import Settings
from shared.infra.timeutil import utcnow

EVENT_TYPE = "customer.access.updated"
LEASE_MARGIN_SECONDS = 30  # beyond the request timeout, before another job may take the row
MAX_ERROR_LENGTH = 500
log = logging.getLogger("portal.notifications")


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt did: delivered, retrying, failed, or skipped (nothing to do)."""

    state: str
    detail: str = ""


def lease_due(settings: Settings, now: datetime | None = None, limit: int = 100) -> list[tuple[int, str]]:
    """Claim up to ``limit`` due rows, each for one job: [(user id, claim)]."""
    now = now or utcnow()
    lease = now + timedelta(seconds=settings.host_webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
    note = HostNotification
    due = note.select(note.id, note.user_id, note.next_attempt_at).where(
        note.state == note.PENDING, note.next_attempt_at <= now
    )
    leased = []
    for row in due.order_by(note.next_attempt_at).limit(limit):
        claim = secrets.token_hex(8)
        taken = note.update(claim=claim, next_attempt_at=lease).where(
            note.id == row.id, note.state == note.PENDING, note.next_attempt_at == row.next_attempt_at
        )
        if taken.execute():  # another worker may have leased it between the two statements
            leased.append((row.user_id, claim))
    return leased


def deliver(user_id: int, claim: str, settings: Settings, session: requests.Session) -> Outcome:
    """Send the user's current access answer, if this job's claim still holds the row."""
    row = HostNotification.get_or_none(HostNotification.user_id == user_id, HostNotification.claim == claim)
    if row is None:
        return Outcome("skipped", "claim no longer held")
    external_id = User.select(User.external_id).where(User.id == user_id).scalar()
    answer = access_answers([external_id], settings.past_due_grace_days)[external_id] if external_id else None
    if answer is None or not settings.host_webhook_url:
        return _settle(row, claim, row.version, settings, error="no such user" if answer is None else "no URL")
    error = post(settings, session, user_id, answer)
    return _settle(row, claim, answer["version"], settings, error)


def post(settings: Settings, session: requests.Session, user_id: int, answer: dict) -> str | None:
    """POST one signed notification; None on a 2xx, else why not."""
    body = payload(answer)
    message_id = f"acc_{user_id}_{answer['version']}"
    headers = signed_headers(settings, message_id, body)
    try:
        response = session.post(
            str(settings.host_webhook_url), data=body, headers=headers, timeout=settings.host_webhook_timeout_seconds
        )
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"[:MAX_ERROR_LENGTH]


def payload(answer: dict) -> bytes:
    body = {"type": EVENT_TYPE, "external_id": answer["external_id"], "version": answer["version"], "access": answer}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def signed_headers(settings: Settings, message_id: str, body: bytes) -> dict[str, str]:
    sent_at = utcnow()
    signature = Webhook(str(settings.host_webhook_secret)).sign(message_id, sent_at, body)
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }


def _settle(row: HostNotification, claim: str, sent_version: int, settings: Settings, error: str | None) -> Outcome:
    """Record the attempt under the claim; a version that arrived meanwhile stays pending, due now."""
    now = utcnow()
    note = HostNotification
    mine = (note.id == row.id, note.claim == claim)
    current = note.get_or_none(*mine)
    if current is None:
        return Outcome("skipped", "claim lost")
    if error is None:
        newer = current.version > sent_version
        note.update(
            claim=None,
            state=note.PENDING if newer else note.DELIVERED,
            delivered_version=sent_version,
            delivered_at=now,
            attempts=0,
            last_error=None,
            next_attempt_at=now,
            pending_since=now if newer else None,
        ).where(*mine).execute()
        return Outcome("delivered", f"version {sent_version}")
    attempts = current.attempts + 1
    schedule = settings.host_webhook_retry_schedule
    if attempts > len(schedule):
        note.update(claim=None, state=note.FAILED, attempts=attempts, last_error=error).where(*mine).execute()
        log.error("notification of user %s failed after %d attempts: %s", row.user_id, attempts, error)
        return Outcome("failed", error)
    retry_at = now + timedelta(seconds=schedule[attempts - 1])
    note.update(claim=None, attempts=attempts, last_error=error, next_attempt_at=retry_at).where(*mine).execute()
    log.warning("notification of user %s not delivered (attempt %d): %s", row.user_id, attempts, error)
    return Outcome("retrying", error)


def redeliver(notification_id: int | None = None) -> int:
    """Make one notification (by id), or every failed one when None, due again now; returns how many."""
    note = HostNotification
    where = note.id == notification_id if notification_id is not None else note.state == note.FAILED
    return (
        note.update(state=note.PENDING, attempts=0, claim=None, next_attempt_at=utcnow())
        .where(where, note.claim.is_null())
        .execute()
    )


OUTCOMES_KEY = "portal:notifications:outcomes"


def count_outcome(conn: redis.Redis, outcome: Outcome) -> None:
    conn.hincrby(OUTCOMES_KEY, outcome.state, 1)


def notification_gauges(conn: redis.Redis):
    """Delivery to the host app at scrape time: attempts by outcome (Redis), backlog and lag (database)."""
    attempts = CounterMetricFamily(
        "portal_host_notifications", "Notification attempts to the host app, by outcome.", labels=["outcome"]
    )
    counts = {as_text(key): finite_number(value) or 0 for key, value in conn.hgetall(OUTCOMES_KEY).items()}
    for outcome in ("delivered", "retrying", "failed"):
        attempts.add_metric([outcome], counts.get(outcome, 0))
    yield attempts
    try:
        by_state = HostNotification.select(HostNotification.state, fn.COUNT(HostNotification.id))
        backlog: dict[str, int] = dict(by_state.group_by(HostNotification.state).tuples().execute())
        oldest = HostNotification.select(fn.MIN(HostNotification.pending_since)).where(
            HostNotification.state == HostNotification.PENDING
        )
        oldest_pending = oldest.scalar()
    except peewee.PeeweeException as exc:  # the scrape still answers; the database's own probe says why
        log.warning("notification gauges skipped: database unavailable (%s)", type(exc).__name__)
        return
    states = GaugeMetricFamily(
        "portal_host_notifications_waiting", "Notifications not delivered, by state.", labels=["state"]
    )
    for state in (HostNotification.PENDING, HostNotification.FAILED):
        states.add_metric([state], backlog.get(state, 0))
    yield states
    lag = (utcnow() - oldest_pending).total_seconds() if oldest_pending else 0
    yield GaugeMetricFamily(
        "portal_host_notification_lag_seconds", "Age of the oldest change the host app has not been told of.", value=lag
    )
