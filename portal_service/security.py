"""Browser-facing defences: cross-site writes refused, and security headers.

CSRFProtect already demands a token on every POST; refusing cross-site writes
is a second, cheaper wall for browsers that send Fetch Metadata. Stripe's
webhooks come from no browser and send no Sec-Fetch-Site, so they pass (their
signature guards them; they are answered before Flask and get no headers here).
"""

from __future__ import annotations

import ipaddress

from flask import Flask, request

from portal_service.errors import error_response
from portal_service.extensions import settings

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
# Pages and API answers hold a user's billing, email and CSRF token: no cache
# (a browser's back button, a shared proxy) may keep them. Static files may.
NO_STORE = "no-store"
# Production is served over HTTPS only (the session cookie is Secure): browsers
# must not try plain HTTP first, where the first request could be tampered with.
HSTS = "max-age=31536000; includeSubDomains"


def api_answer_headers(is_development: bool) -> list[tuple[str, str]]:
    """The headers add_security_headers gives an API answer (for a layer that answers below Flask)."""
    headers = [*SECURITY_HEADERS.items(), ("Cache-Control", NO_STORE)]
    return headers if is_development else [*headers, ("Strict-Transport-Security", HSTS)]


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_unreadable_forwarded_for():
        """Behind trusted proxies the client's address comes from X-Forwarded-For (ProxyFix):
        it keys the throttles and the /metrics loopback check, so it must be an address."""
        forwarded = settings().trusted_proxy_hops and "X-Forwarded-For" in request.headers
        if forwarded and not _is_address(request.remote_addr):
            return error_response(400, "Malformed X-Forwarded-For header")
        return None

    @app.before_request
    def refuse_cross_site_writes():
        if request.method not in SAFE_METHODS and request.headers.get("Sec-Fetch-Site") == "cross-site":
            return error_response(403, "Cross-site request refused")
        return None

    @app.after_request
    def add_security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            response.headers["Cache-Control"] = NO_STORE
        if not settings().is_development:
            response.headers["Strict-Transport-Security"] = HSTS
        return response


def _is_address(text: str | None) -> bool:
    if not text or len(text) > 64:  # the longest IPv6 text with a zone is well under this
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
