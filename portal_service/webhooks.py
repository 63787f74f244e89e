"""POST /api/webhooks/stripe: verify, enqueue, answer. No database work here.

This endpoint is a small WSGI layer in front of the Flask app rather than a
Flask view: Stripe's deliveries need none of Flask's per-request machinery
(sessions, login, CSRF, routing, teardown), which costs as much CPU as the
webhook's own work. Everything else goes to Flask.

The answer is 2xx only once Redis has acknowledged the delivery; if Redis is
down or slow we answer 503 so that Stripe delivers it again later.
"""

from __future__ import annotations

import logging
import time

import orjson
import redis

from portal_service.signature import SignatureError, verify
from shared.infra.logs import log_fields
from shared.infra.parsing import plain_int
from shared.infra.settings import Settings
from shared.ops import metrics
from shared.sync import inbox
from shared.sync.event_shape import THIN_OBJECT, UnfitEvent, check_event, check_thin_event

PATH = "/api/webhooks/stripe"
log = logging.getLogger("portal.webhooks")


class NotAnEvent(ValueError):
    pass


class Refused(Exception):
    def __init__(self, reason: str, message: str, status: int = 400):
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


def parse_event(body: bytes) -> tuple[str, str]:
    """The event's id and type, after its signature has been checked.

    A snapshot event (``object: event``) and a thin notification from an event
    destination (``object: v2.core.event``) are both queued; the worker fetches
    what a thin one points at. An event the worker could never apply
    (shared.sync.event_shape) is refused here, naming the field, rather than
    queued to fail there.
    """
    try:
        event = orjson.loads(body)  # strict RFC 8259 and UTF-8, unlike json: what Stripe sends
    except orjson.JSONDecodeError:
        raise NotAnEvent("Body is not JSON") from None
    if not isinstance(event, dict):
        raise NotAnEvent("Body is not a Stripe event")
    if event.get("object") == THIN_OBJECT:
        check_thin_event(event)
    else:
        check_event(event)
    return event["id"], event["type"]


def read_body(environ: dict, limit: int) -> bytes:
    """The raw body (the signature covers its exact bytes), refusing more than ``limit``."""
    declared = declared_length(environ, limit)
    stream = environ["wsgi.input"]
    try:
        body = stream.read(declared) if declared is not None else stream.read(limit + 1)
    except TimeoutError:  # the client went quiet (slow_clients.ClientIdleTimeout)
        raise Refused("timeout", "Request body not received in time", 408) from None
    if len(body) > limit:
        raise Refused("too_large", "Request body too large", 413)
    return body


def declared_length(environ: dict, limit: int) -> int | None:
    """Content-Length, if sent: 400 when it is not a plain number, 413 when over ``limit``."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if not declared:
        return None  # chunked, or no body: the read is bounded instead
    if not (declared.isascii() and declared.isdigit()):
        raise Refused("malformed", "Malformed Content-Length header", 400)
    length = plain_int(declared, len(str(limit)))
    if length is None or length > limit:
        raise Refused("too_large", "Request body too large", 413)
    return length


class WebhookIngest:
    """WSGI middleware answering POST /api/webhooks/stripe; the rest goes to ``app``."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.settings = settings
        self.inbox = inbox.InboxWriter(settings.redis_url, settings.redis_timeout_seconds)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        status, payload, headers = self.answer(environ)
        body = orjson.dumps(payload)
        headers += [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
        start_response(status, headers)
        return [body]

    def answer(self, environ):
        method = environ.get("REQUEST_METHOD")
        if method != "POST":
            return "405 METHOD NOT ALLOWED", {"error": f"Method {method} not allowed here"}, [("Allow", "POST")]
        try:
            event_id, event_type, body = self.accept(environ)
        except Refused as exc:
            metrics.count_webhook(exc.reason)
            log_fields(log, "webhook refused", logging.WARNING, outcome=exc.reason, status=exc.status)
            return _status(exc.status), {"error": exc.message}, []
        return self.enqueue(event_id, event_type, body)

    def accept(self, environ) -> tuple[str, str, bytes]:
        body = read_body(environ, self.settings.webhook_max_bytes)
        try:
            verify(
                body,
                environ.get("HTTP_STRIPE_SIGNATURE"),
                self.settings.stripe_webhook_secrets,
                self.settings.webhook_tolerance_seconds,
                time.time(),
            )
            event_id, event_type = parse_event(body)
        except SignatureError as exc:
            raise Refused(exc.reason, exc.message) from None
        except NotAnEvent as exc:
            raise Refused("not_an_event", str(exc)) from None
        except UnfitEvent as exc:
            raise Refused("unfit_event", str(exc)) from None
        return event_id, event_type, body

    def enqueue(self, event_id: str, event_type: str, body: bytes):
        started = time.perf_counter()
        try:
            self.inbox.push(event_id, event_type, body)
        except redis.RedisError as exc:
            metrics.count_webhook("redis_unavailable")
            log_fields(log, "webhook not queued", logging.ERROR, event_id=event_id, error=type(exc).__name__)
            return "503 SERVICE UNAVAILABLE", {"error": "Queue unavailable; retry later"}, []
        metrics.ENQUEUE_SECONDS.observe(time.perf_counter() - started)
        metrics.count_webhook("accepted")
        # DEBUG, not INFO: a line per delivery is a measurable share of ingest
        # (docs/benchmarks.md). The worker logs every event it applies and the
        # ledger keeps received_at; refusals and 503s are logged at WARNING and ERROR.
        log_fields(log, "webhook accepted", logging.DEBUG, event_id=event_id, event_type=event_type)
        return "200 OK", {"received": True, "id": event_id}, []


def _status(code: int) -> str:
    return {400: "400 BAD REQUEST", 408: "408 REQUEST TIMEOUT", 413: "413 REQUEST ENTITY TOO LARGE"}[code]
