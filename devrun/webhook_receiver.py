"""A host app's notification endpoint, for tests and benchmarks: verifies Standard Webhooks signatures.

It records each notification it accepts with its arrival time and message id,
counts those whose signature fails, and answers 500 to the first ``refuse``
verified requests (a host that is down), then 204.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    arrived: float  # time.monotonic()
    notification: dict
    webhook_id: str


class SignedWebhookReceiver:
    def __init__(self, secret: str, refuse: int = 0):
        self.refuse = refuse
        self.webhook = Webhook(secret)
        self.received: list[Received] = []
        self.refused = 0
        self.unverified = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/billing"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def receive(self, headers: dict, body: bytes) -> int:
        arrived = time.monotonic()
        try:
            notification = self.webhook.verify(body, headers)
        except Exception:  # any refusal of the signature or its headers
            with self.lock:
                self.unverified += 1
            return 400
        with self.lock:
            if self.refused < self.refuse:
                self.refused += 1
                return 500
            self.received.append(Received(arrived, notification, headers["webhook-id"]))
        return 204

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                self.send_response(receiver.receive(headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler
