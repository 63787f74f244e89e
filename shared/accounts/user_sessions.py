"""Server-side records of signed-in sessions, so that a session can end.

Flask's session cookie is signed but kept by the browser: a copy taken before
logout would stay valid until the secret key changed. So signing in creates a
random token, kept in the cookie (as flask-login's user id) and in Redis (its
SHA-256, with the user id). Every signed-in request looks the token up; logout
deletes it, and ``end_all`` deletes every session of one user: the one call a
password change or an operator (`portal-service user sign-out`) makes.

Only signed-in sessions are stored. Anonymous visitors (their CSRF token) stay
in the cookie, so nobody can fill Redis, which holds the webhook inbox, by
loading the sign-in page.
"""

from __future__ import annotations

import hashlib
import secrets

import redis

from shared.infra.parsing import plain_int

SESSION_PREFIX = "portal:session:"
USER_PREFIX = "portal:user-sessions:"
LIFETIME_SECONDS = 14 * 24 * 3600  # from sign-in; then the user signs in again


def start(conn: redis.Redis, user_id: int) -> str:
    """A new session for ``user_id``; returns the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    key, sessions = _key(token), _user_key(user_id)
    pipe = conn.pipeline(transaction=True)
    pipe.set(key, user_id, ex=LIFETIME_SECONDS)
    pipe.sadd(sessions, key)
    pipe.expire(sessions, LIFETIME_SECONDS)  # outlives every session it lists
    pipe.execute()
    return token


def user_of(conn: redis.Redis, token: str) -> int | None:
    """The user whose live session ``token`` is, or None once it ended or expired."""
    return _user_id(conn.get(_key(token)))


def end(conn: redis.Redis, token: str) -> None:
    key = _key(token)
    user_id = conn.get(key)
    pipe = conn.pipeline(transaction=True)
    pipe.delete(key)
    owner = _user_id(user_id)
    if owner is not None:
        pipe.srem(_user_key(owner), key)
    pipe.execute()


def end_all(conn: redis.Redis, user_id: int) -> int:
    """End every session of ``user_id``; returns how many were live.

    A session started while this runs is not listed yet and stays: it began
    after the revocation.
    """
    sessions = _user_key(user_id)
    keys = list(conn.smembers(sessions))
    if not keys:
        return 0
    pipe = conn.pipeline(transaction=True)
    pipe.delete(*keys)
    pipe.srem(sessions, *keys)
    live, _ = pipe.execute()
    return int(live)


def _user_id(stored: bytes | str | None) -> int | None:
    """The user id a session record holds; anyone who can write to Redis may have left something else."""
    if isinstance(stored, bytes):
        stored = stored.decode("ascii", "replace")
    return plain_int(stored, max_digits=18)


def _key(token: str) -> str:
    return SESSION_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def _user_key(user_id: int) -> str:
    return f"{USER_PREFIX}{user_id}"
