"""POST /api/webhooks/stripe: verify, enqueue, answer. No database work here.

The answer is 2xx only once Redis has acknowledged the delivery; if Redis is
down or slow we answer 503 so that Stripe delivers it again later.
"""
from __future__ import annotations

import json
import logging
import time

import redis
from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from portal_service.extensions import csrf
from portal_service.signature import SignatureError, verify
from shared import inbox, metrics
from shared.logs import log_fields

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("portal.webhooks")


class NotAnEvent(ValueError):
    pass


def parse_event(body: bytes) -> tuple[str, str]:
    """The event's id and type, after its signature has been checked."""
    try:
        event = json.loads(body)
    except ValueError:
        raise NotAnEvent("Body is not JSON") from None
    if not isinstance(event, dict):
        raise NotAnEvent("Body is not a Stripe event")
    event_id, event_type = event.get("id"), event.get("type")
    if not (isinstance(event_id, str) and event_id.startswith("evt_") and isinstance(event_type, str)):
        raise NotAnEvent("Body is not a Stripe event: it needs an evt_ id and a type")
    data = event.get("data")
    has_object = isinstance(data, dict) and isinstance(data.get("object"), dict)
    if not isinstance(event.get("created"), int) or not has_object:
        raise NotAnEvent("Body is not a Stripe event: it needs created and data.object")
    return event_id, event_type


def refuse(reason: str, message: str, status: int = 400):
    metrics.count_webhook(reason)
    log_fields(log, "webhook refused", logging.WARNING, outcome=reason, status=status)
    return {"error": message}, status


@bp.post("/api/webhooks/stripe")
@csrf.exempt
def stripe_webhook():
    settings = current_app.config["SETTINGS"]
    try:
        body = request.get_data(cache=False)  # raw bytes: the signature covers them exactly
    except RequestEntityTooLarge:
        metrics.count_webhook("too_large")
        raise  # answered 413 by the one error handler
    try:
        verify(body, request.headers.get("Stripe-Signature"), settings.stripe_webhook_secrets,
               settings.webhook_tolerance_seconds, time.time())
        event_id, event_type = parse_event(body)
    except SignatureError as exc:
        return refuse(exc.reason, exc.message)
    except NotAnEvent as exc:
        return refuse("not_an_event", str(exc))
    return enqueue(event_id, event_type, body)


def enqueue(event_id: str, event_type: str, body: bytes):
    started = time.perf_counter()
    try:
        inbox.push(current_app.extensions["redis"], event_id, event_type, body)
    except redis.RedisError as exc:
        metrics.count_webhook("redis_unavailable")
        log_fields(log, "webhook not queued", logging.ERROR, event_id=event_id, error=type(exc).__name__)
        return {"error": "Queue unavailable; retry later"}, 503
    metrics.ENQUEUE_SECONDS.observe(time.perf_counter() - started)
    metrics.count_webhook("accepted")
    log_fields(log, "webhook accepted", event_id=event_id, event_type=event_type)
    return {"received": True, "id": event_id}, 200
