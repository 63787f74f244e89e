"""A host app's notification receiver, for tests: verifies Standard Webhooks signatures, can refuse."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

HOST_SECRET = "whsec_" + base64.b64encode(b"host-app-notification-secret-32b").decode()


class Receiver:
    """Records every notification it accepts; answers 500 to the first ``refuse`` requests."""

    def __init__(self, refuse: int = 0, secret: str = HOST_SECRET):
        self.refuse = refuse
        self.webhook = Webhook(secret)
        self.accepted: list[dict] = []
        self.refused = 0
        self.unverified = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/billing"

    def versions_of(self, external_id: str) -> list[int]:
        with self.lock:
            return [n["version"] for n in self.accepted if n["external_id"] == external_id]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def receive(self, headers: dict, body: bytes) -> int:
        try:
            notification = self.webhook.verify(body, headers)
        except Exception:
            with self.lock:
                self.unverified += 1
            return 400
        with self.lock:
            if self.refused < self.refuse:
                self.refused += 1
                return 500
            self.accepted.append({**notification, "webhook-id": headers["webhook-id"]})
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


def as_json(notification: dict) -> str:
    return json.dumps(notification, sort_keys=True)
