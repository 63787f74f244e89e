"""The worker's /metrics: its own counters, on WORKER_METRICS_PORT, same access rule as the web.

Each worker replica serves its own numbers (a multiprocess directory shared
between containers would mix up processes that have the same pid); Prometheus
finds the replicas by DNS (see docs/operations.md).
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from shared.ops import metrics


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # scrapes every few seconds: not worth a log line
        pass


def metrics_app(token: str | None):
    def app(environ, start_response):
        if not metrics.may_scrape(token, environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR")):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"forbidden\n"]
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE)])
        return [metrics.exposition(None)]

    return app


def serve(port: int, token: str | None, host: str = "0.0.0.0") -> WSGIServer:
    """Serve from a daemon thread; it dies with the worker."""
    server = make_server(host, port, metrics_app(token), handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
