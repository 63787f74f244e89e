"""Keys of the service API: created once, stored as a hash, revocable.

A key is ``psk_`` + a 16-character lookup part + a 43-character secret (both
URL-safe base64 of random bytes). The lookup part finds the row; the SHA-256
of the whole key is then compared in constant time. Keys are random, so a fast
hash is enough: there is no password to guess.

``last_used_at`` is written at most once a minute per key: each process keeps
when it last wrote it, and the UPDATE itself skips a row written in the last
minute by another process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from shared.infra import change_feed
from shared.infra.db import execute_compiled, is_postgres
from shared.infra.models import ApiKey
from shared.infra.timeutil import utcnow

log = logging.getLogger("portal.api")
PREFIX = "psk_"
LOOKUP_LENGTH = 16
SECRET_BYTES = 32
READ, WRITE = "read", "write"
SCOPES = (READ, WRITE)
MAX_NAME_LENGTH = 100
LAST_USED_EVERY = timedelta(minutes=1)
KEY_PATTERN = re.compile(rf"{PREFIX}[A-Za-z0-9_-]{{{LOOKUP_LENGTH}}}[A-Za-z0-9_-]{{43}}")


class ApiKeyError(ValueError):
    """A name, scope or id an operator gave that cannot be used; the message says why."""


@dataclass(frozen=True)
class Caller:
    """Who an API request comes from: the key's id, name and scope."""

    key_id: int
    name: str
    scope: str

    def may_write(self) -> bool:
        return self.scope == WRITE


def create(name: str, scope: str = READ) -> tuple[ApiKey, str]:
    """A new key: its row, and the key itself (shown once, never stored)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ApiKeyError(f"a key's name is 1 to {MAX_NAME_LENGTH} printable characters")
    if scope not in SCOPES:
        raise ApiKeyError(f"scope must be one of {', '.join(SCOPES)}")
    lookup = secrets.token_urlsafe(12)  # 16 characters
    key = PREFIX + lookup + secrets.token_urlsafe(SECRET_BYTES)
    row = ApiKey.create(name=name, scope=scope, lookup=lookup, key_hash=digest(key))
    return row, key


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def all_keys() -> list[ApiKey]:
    return list(ApiKey.select().order_by(ApiKey.id))


def revoke(key_id: int) -> ApiKey:
    """Revoke a key; every request after this returns refuses it. Revoking twice keeps the first time.

    On PostgreSQL web processes keep live keys in memory until the change feed
    tells them otherwise (portal_service.access_cache), so this returns only
    once each of them has heard the revocation or stopped trusting its cache.
    """
    row = ApiKey.get_or_none(ApiKey.id == key_id)
    if row is None:
        raise ApiKeyError(f"no API key with id {key_id}")
    revoked = ApiKey.update(revoked_at=utcnow()).where(ApiKey.id == key_id, ApiKey.revoked_at.is_null()).execute()
    if revoked and is_postgres():
        time.sleep(change_feed.SETTLED_SECONDS)  # committed: autocommit, outside any transaction
    return ApiKey.get(ApiKey.id == key_id)


KEY_COLUMNS = (ApiKey.id, ApiKey.name, ApiKey.scope, ApiKey.key_hash)


def authenticate(presented: str) -> Caller | None:
    """The caller a presented key belongs to, or None (malformed, unknown, wrong or revoked)."""
    lookup = lookup_of(presented)
    if lookup is None:
        return None
    row = execute_compiled(_live_key_query, (lookup,)).fetchone()
    return caller_of(row, presented) if row else None


def lookup_of(presented: str) -> str | None:
    """The part of a well-formed key that finds its row."""
    if not KEY_PATTERN.fullmatch(presented):
        return None
    return presented[len(PREFIX) : len(PREFIX) + LOOKUP_LENGTH]


def caller_of(row: tuple, presented: str) -> Caller | None:
    """The caller, if ``presented`` is the key of ``row`` (KEY_COLUMNS); compared in constant time."""
    key_id, name, scope, key_hash = row
    return Caller(key_id, name, scope) if hmac.compare_digest(key_hash, digest(presented)) else None


def _live_key_query():
    return ApiKey.select(*KEY_COLUMNS).where(ApiKey.lookup == "?", ApiKey.revoked_at.is_null())


class LastUsed:
    """Records keys' last use, at most one write per key per minute from this process."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.written: dict[int, float] = {}
        self.lock = threading.Lock()

    def seen(self, key_id: int) -> None:
        now = self.clock()
        with self.lock:
            due = now - self.written.get(key_id, float("-inf")) >= LAST_USED_EVERY.total_seconds()
            if due:
                self.written[key_id] = now
        if not due:
            return
        try:
            touch(key_id, utcnow())
        except peewee.PeeweeException as exc:  # advisory: the request it rides on must not fail for it
            log.warning("last use of API key %s not recorded (%s); tried again on its next request", key_id, exc)
            with self.lock:
                self.written.pop(key_id, None)


def touch(key_id: int, now: datetime) -> int:
    """Set last_used_at unless another process did so within the last minute."""
    recent = now - LAST_USED_EVERY
    stale = ApiKey.last_used_at.is_null() | (ApiKey.last_used_at <= recent)
    return ApiKey.update(last_used_at=now).where(ApiKey.id == key_id, stale).execute()
