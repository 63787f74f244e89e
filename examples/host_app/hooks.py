"""The receiver of portal-service's notifications: ``POST /hooks/billing``.

Each is signed per Standard Webhooks; verified over the body's exact bytes before anything
reads it. Delivery is at least once and may repeat or arrive late, so an answer is kept only
if its ``version`` is newer than the one held; anything else is acknowledged and dropped.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from examples.host_app import store

ACCESS_UPDATED = "customer.access.updated"
MAX_EXTERNAL_ID = 255
log = logging.getLogger("acme.hooks")
bp = Blueprint("hooks", __name__)


class Malformed(ValueError):
    """A signed notification whose body is not what the contract says."""


@bp.post("/hooks/billing")
def billing_notification():
    body = request.get_data()
    try:
        Webhook(current_app.config["WEBHOOK_SECRET"]).verify(body, dict(request.headers), json_parse=False)
    except WebhookVerificationError as exc:
        log.warning("refused a notification: %s", exc)
        return {"error": f"signature: {exc}"}, 401
    try:
        notification = parse(body)
    except Malformed as exc:
        log.error("a signed notification is malformed: %s", exc)
        return {"error": str(exc)}, 400
    if notification["type"] != ACCESS_UPDATED:
        return {"kept": False, "ignored": notification["type"]}, 200  # a type this app does not use
    kept = store.keep_access(notification["access"], "notified")
    return {"kept": kept}, 200  # dropped when not newer: still 2xx, so it is not sent again


def parse(body: bytes) -> dict:
    """The notification, checked against the contract; Malformed says what is wrong."""
    try:
        notification = json.loads(body)
    except ValueError:
        raise Malformed("the body is not JSON") from None
    if not isinstance(notification, dict) or not isinstance(notification.get("type"), str):
        raise Malformed("type: a string is required")
    if notification["type"] == ACCESS_UPDATED:
        _check_access(notification)
    return notification


def _check_access(notification: dict) -> None:
    external_id, version, access = (notification.get(k) for k in ("external_id", "version", "access"))
    if not isinstance(external_id, str) or not 0 < len(external_id) <= MAX_EXTERNAL_ID:
        raise Malformed(f"external_id: a string of 1 to {MAX_EXTERNAL_ID} characters is required")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Malformed("version: a positive integer is required")
    if not isinstance(access, dict) or not isinstance(access.get("has_access"), bool):
        raise Malformed("access: an object with has_access is required")
    if access.get("external_id") != external_id or access.get("version") != version:
        raise Malformed("access: its external_id and version must be the notification's")
