"""Browser-facing defences: cross-site writes refused, and security headers.

CSRFProtect already demands a token on every POST; refusing cross-site writes
is a second, cheaper wall for browsers that send Fetch Metadata. Stripe's
webhooks come from no browser and send no Sec-Fetch-Site, so they pass (their
signature guards them; they are answered before Flask and get no headers here).
"""
from __future__ import annotations

from flask import Flask, request

from portal_service.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Our pages load only our own script and stylesheet: no inline code, no
# framing. form-action is left open on purpose: the billing forms answer with a
# 303 to Stripe's hosted Checkout and portal, and browsers apply form-action
# to that redirect too.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # billing URLs carry checkout session ids
}


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_cross_site_writes():
        if request.method not in SAFE_METHODS and request.headers.get("Sec-Fetch-Site") == "cross-site":
            return error_response(403, "Cross-site request refused")
        return None

    @app.after_request
    def add_security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
