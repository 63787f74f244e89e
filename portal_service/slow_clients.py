"""A client that stops sending its request body is cut off, not waited for.

gunicorn's threaded workers (gunicorn.conf.py) give each request a thread; a
client that sends its headers and part of a body, then goes quiet, holds that
thread while the body is read, and gunicorn itself never times such a read
out (only its sync workers have a timeout, and it kills the whole process).
So every read from and write to the client's socket gives up after
``seconds`` of silence: the request is answered 408 (webhooks.read_body, and
errors' handler for Flask) and the thread goes back to the pool. A client that
sends anything within the time keeps going, as with nginx's
client_body_timeout; a buffering proxy in front takes even those off gunicorn.
"""

from __future__ import annotations


class ClientIdleTimeout:
    """WSGI middleware: a timeout on the client's socket for this request (gunicorn only)."""

    def __init__(self, app, seconds: float):
        self.app = app
        self.seconds = seconds

    def __call__(self, environ, start_response):
        client = environ.get("gunicorn.socket")
        if client is not None:
            # gunicorn makes the socket blocking again (no timeout) before the
            # next request on it, so this lasts for this request only.
            client.settimeout(self.seconds)
        return self.app(environ, start_response)
