"""The host app's side of notifications, for tests: a receiver that verifies every signature."""

from __future__ import annotations

import base64

from devrun.webhook_receiver import SignedWebhookReceiver

HOST_SECRET = "whsec_" + base64.b64encode(b"host-app-notification-secret-32b").decode()


class Receiver(SignedWebhookReceiver):
    def __init__(self, refuse: int = 0, secret: str = HOST_SECRET):
        super().__init__(secret, refuse)

    @property
    def accepted(self) -> list[dict]:
        """Each accepted notification, with the message id it came under."""
        with self.lock:
            return [{**got.notification, "webhook-id": got.webhook_id} for got in self.received]

    def versions_of(self, external_id: str) -> list[int]:
        return [note["version"] for note in self.accepted if note["external_id"] == external_id]
