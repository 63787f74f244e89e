"""The sandbox tests' helpers: a real webhook receiver, and plain HTTP against the sandbox."""

import http.client as http_client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import stripe

SECRET = "whsec_sandbox_tests"
FAST_RETRIES = (0.05, 0.1, 0.2)


class Receiver:
    """A webhook endpoint that records requests and answers scripted statuses."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.requests: list[tuple[bytes, dict]] = []
        self.statuses: list[int] = []  # answered in turn, then 200
        self.rejected = 0
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks"
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver._record(body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def _record(self, body: bytes, headers: dict) -> int:
        with self._cond:
            status = self.statuses.pop(0) if self.statuses else 200
            if 200 <= status < 300:
                self.requests.append((body, headers))
            else:
                self.rejected += 1
            self._cond.notify_all()
            return status

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"got {len(self.requests)} webhooks, wanted {count}")
                self._cond.wait(remaining)

    def events(self) -> list[stripe.Event]:
        """Every accepted request, verified with stripe-python's own checker."""
        with self._cond:
            received = list(self.requests)
        return [
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], self.secret) for body, headers in received
        ]

    def types(self) -> list[str]:
        return [event.type for event in self.events()]

    def clear(self) -> None:
        with self._cond:
            self.requests.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Http:
    """Plain HTTP against the sandbox, redirects not followed."""

    def __init__(self, base_url: str) -> None:
        self.netloc = urllib.parse.urlsplit(base_url).netloc

    def request(
        self, method: str, url: str, form: dict | None = None, body: dict | None = None, headers: dict | None = None
    ):
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        connection = http_client.HTTPConnection(parts.netloc or self.netloc, timeout=10)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)


class Reply:
    def __init__(self, status: int, headers: dict, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)
