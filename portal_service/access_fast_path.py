"""GET /api/v1/customers/<external_id>/access answered below Flask: the host app's hot path.

The route in portal_service.service_api is the endpoint's definition (and its
OpenAPI entry); this layer gives the same answer, byte for byte, to the common
request (a live key, a well-formed id of a known user) without Flask's
per-request machinery, which costs more CPU than the work itself, and checks
the key in the same statement that reads the answer: one round trip, which on
PostgreSQL is most of the cost (docs/benchmarks.md). Anything else (no or bad
key, a malformed or unknown id, the database failing) goes on to the route,
which answers it.
"""

from __future__ import annotations

import logging
from typing import cast

from flask import Flask
from peewee import JOIN

from portal_service.access_cache import AccessCache, Answer
from portal_service.json_provider import OrjsonProvider
from portal_service.security import api_answer_headers
from shared.accounts import api_keys
from shared.accounts.users import is_valid_external_id
from shared.billing.status import (
    SUBSCRIPTION_COLUMNS,
    USER_COLUMNS,
    access_answer,
    entitlement_keys,
    users_from_rows,
)
from shared.infra.db import database, execute_compiled
from shared.infra.models import ApiKey, Subscription, User
from shared.infra.settings import Settings
from shared.infra.timeutil import utcnow
from shared.ops.metrics import ACCESS_ANSWERS

FROM_MEMORY, FROM_DATABASE = ACCESS_ANSWERS.labels("memory"), ACCESS_ANSWERS.labels("database")
PREFIX = "/api/v1/customers/"
SUFFIX = "/access"
log = logging.getLogger("portal.api")


class AccessFastPath:
    def __init__(self, wsgi, app: Flask, settings: Settings):
        self.wsgi = wsgi
        self.json = cast(OrjsonProvider, app.json)
        self.usage = app.extensions["api_key_usage"]
        self.grace = settings.past_due_grace_days
        self.headers = [("Content-Type", "application/json"), *api_answer_headers(settings.is_development)]
        # flask-login reads the session on every request, so Flask marks every answer so; kept the same here.
        self.headers.append(("Vary", "Cookie"))
        self.database_url = settings.database_url
        self.cache = AccessCache(settings.access_cache_size) if _cacheable(settings) else None

    def __call__(self, environ, start_response):
        body = self.answer(environ) if _is_access_check(environ) else None
        if body is None:
            return self.wsgi(environ, start_response)
        start_response("200 OK", [*self.headers, ("Content-Length", str(len(body)))])
        return [body]

    def answer(self, environ) -> bytes | None:
        """The 200 answer's body, or None to leave the request to the route."""
        external_id = _external_id(environ["PATH_INFO"])
        scheme, _, presented = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        presented = presented.strip()
        lookup = api_keys.lookup_of(presented) if scheme.lower() == "bearer" else None
        if external_id is None or lookup is None:
            return None
        cached = self._cached(lookup, external_id)
        epoch = self.cache.epoch if self.cache else 0  # before the read: see portal_service.access_cache
        found = cached or _read(lookup, external_id)
        caller = api_keys.caller_of(found[0], presented) if found else None
        if found is None or caller is None:
            return None
        if cached is None and self.cache is not None:
            self.cache.put(epoch, lookup, found[0], external_id, found[1])
        (FROM_DATABASE if cached is None else FROM_MEMORY).inc()
        self.usage.seen(caller.key_id)
        user, subs = found[1]
        return self.json.encode(access_answer(user, subs, utcnow(), self.grace))  # as the route's answer is written

    def _cached(self, lookup: str, external_id: str) -> tuple[tuple, Answer] | None:
        if self.cache is None:
            return None
        self.cache.listen(self.database_url)
        return self.cache.get(lookup, external_id)


def _read(lookup: str, external_id: str) -> tuple[tuple, Answer] | None:
    """The live key's row and the user's answer inputs, in one round trip; None if either is missing."""
    try:
        rows = execute_compiled(_checked_answer_query, (external_id, lookup)).fetchall()
    except Exception as exc:  # the route answers it, on a fresh connection, with its own error handling
        log.warning("access fast path left a request to the route: %s", type(exc).__name__)
        database.close()
        return None
    width = len(api_keys.KEY_COLUMNS)
    users = users_from_rows([row[width:] for row in rows])
    return (rows[0][:width], users[external_id]) if external_id in users else None


def _cacheable(settings: Settings) -> bool:
    """Only PostgreSQL announces changes (shared.infra.change_feed); SQLite's reads are in-process anyway."""
    return settings.access_cache_size > 0 and settings.database_url.startswith("postgres")


def _checked_answer_query():
    """The live key's row beside the user's answer rows; parameters: the external id, then the key's lookup."""
    return (
        ApiKey.select(*api_keys.KEY_COLUMNS, *USER_COLUMNS, entitlement_keys(), *SUBSCRIPTION_COLUMNS)
        .join(User, JOIN.LEFT_OUTER, on=(User.external_id == "?"))
        .join(Subscription, JOIN.LEFT_OUTER, on=(Subscription.customer_id == User.stripe_customer_id))
        .where(ApiKey.lookup == "?", ApiKey.revoked_at.is_null())
    )


def _is_access_check(environ) -> bool:
    path = environ.get("PATH_INFO", "")
    return environ.get("REQUEST_METHOD") == "GET" and path.startswith(PREFIX) and path.endswith(SUFFIX)


def _external_id(path: str) -> str | None:
    """The id in the path, decoded as werkzeug decodes it (WSGI hands paths over as latin-1)."""
    try:
        external_id = path[len(PREFIX) : -len(SUFFIX)].encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None
    return external_id if is_valid_external_id(external_id) else None
