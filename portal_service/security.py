"""Refusing cross-site writes: the browser says where a request comes from.

CSRFProtect already demands a token on every POST; this is a second, cheaper
wall for browsers that send Fetch Metadata. Stripe's webhooks come from no
browser and send no Sec-Fetch-Site, so they pass (their signature guards them).
"""
from __future__ import annotations

from flask import Flask, request

from portal_service.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_cross_site_writes():
        if request.method not in SAFE_METHODS and request.headers.get("Sec-Fetch-Site") == "cross-site":
            return error_response(403, "Cross-site request refused")
        return None
