"""Sessions are for browsers: webhook requests never open one.

Flask opens the signed-cookie session on every request, which builds an
itsdangerous signer each time; on POST /api/webhooks/stripe that was a
fifth of the request's CPU for a cookie Stripe never sends (see
docs/benchmarks.md). Those requests get Flask's null session instead.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface

SESSIONLESS_PREFIXES = ("/api/webhooks/",)


class BrowserSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(SESSIONLESS_PREFIXES):
            return self.make_null_session(app)  # never saved: no Set-Cookie either
        return super().open_session(app, request)
