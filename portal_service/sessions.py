"""Sessions are for browsers: webhook requests never open one.

Flask opens the signed-cookie session on every request, which builds an
itsdangerous signer each time; on POST /api/webhooks/stripe that was about
a third of the app's own time (Redis aside) for a cookie Stripe never
sends (docs/benchmarks.md). Those requests get Flask's null session.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface

SESSIONLESS_PREFIXES = ("/api/webhooks/",)


class BrowserSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if request.path.startswith(SESSIONLESS_PREFIXES):
            return self.make_null_session(app)  # never saved: no Set-Cookie either
        return super().open_session(app, request)
