"""Probes and metrics for the platform: /healthz, /readyz, /metrics."""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from portal_service.extensions import redis_client, settings
from shared.billing import host_notifications
from shared.ops import metrics
from shared.ops.readiness import readiness
from shared.sync import inbox, reconcile

bp = Blueprint("ops", __name__)
SYNC_GAUGES = (inbox.backlog_gauges, reconcile.drift_gauges, host_notifications.notification_gauges)  # per scrape
BEARER = re.compile(r"Bearer +[A-Za-z0-9._~+/-]+=*", re.IGNORECASE)  # RFC 6750's token68


@bp.get("/healthz")
def healthz():
    """The process answers: nothing else is checked, so a Redis outage never restarts the web."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    checks = readiness(redis_client())
    ready = all(value == "ok" for value in checks.values())
    return {"ready": ready, "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
def scrape():
    token = settings().metrics_token
    authorization = request.headers.get("Authorization")
    if token and authorization is not None and not BEARER.fullmatch(authorization.strip()):
        return {"error": "Malformed Authorization header: expected Bearer <token>"}, 400
    if not metrics.may_scrape(token, request.headers.get("Authorization"), request.remote_addr):
        headers = {"WWW-Authenticate": "Bearer"} if token else {}
        return {"error": "Metrics need a bearer token" if token else "Metrics only from this machine"}, 403, headers
    return Response(
        metrics.exposition(redis_client(), SYNC_GAUGES),
        mimetype=None,
        content_type=metrics.CONTENT_TYPE,
    )
