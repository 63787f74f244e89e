"""Hostile requests: what an attacker sends the web. Each must cost little and
be answered 4xx; none may delay Stripe's deliveries (the poster's latencies
during these windows show whether they did).
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench.chaos.deliveries import PATH, post, signed_headers
from bench.events import body_of, event, subscription

REDOS_EMAIL_PADDING = 32_000  # "a@" + dots + "@": quadratic for a backtracking email pattern; survives strip()


def _valid_body() -> bytes:
    return body_of(
        event(
            "evt_chaoshostile",
            "customer.subscription.updated",
            subscription("sub_chaoshostile", "cus_chaoshostile", 1_767_225_600),
            1_767_225_600,
        )
    )


def webhook_requests(secret: str) -> dict:
    """kind -> (body, headers) of one hostile webhook request."""
    body = _valid_body()
    digest = signed_headers(body, secret)["Stripe-Signature"].split(",v1=")[1]
    garbage = os.urandom(2048)
    return {
        "bad_signature": (body, signed_headers(body, "whsec_not_the_secret")),
        "no_signature": (body, {"Content-Type": "application/json"}),
        "garbage_body_signed": (garbage, signed_headers(garbage, secret)),
        "signature_t_superscript": (body, {"Stripe-Signature": f"t=\u00b2,v1={digest}"}),
        "signature_t_5000_digits": (body, {"Stripe-Signature": f"t={'9' * 5000},v1={digest}"}),
        "huge_header": (body, {**signed_headers(body, secret), "X-Padding": "p" * 65_536}),
        "many_headers": (body, {**signed_headers(body, secret), **{f"X-H{n}": "v" for n in range(300)}}),
        "body_over_limit": (b"{" + b" " * (2 * 1024 * 1024) + b"}", signed_headers(b"{}", secret)),
    }


@dataclass
class HostileLog:
    """Statuses and durations per kind of hostile request."""

    seen: dict = field(default_factory=lambda: defaultdict(Counter))
    slowest: dict = field(default_factory=lambda: defaultdict(float))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status, seconds: float) -> None:
        with self.lock:
            self.seen[kind][str(status)] += 1
            self.slowest[kind] = max(self.slowest[kind], seconds)

    def summary(self) -> dict:
        with self.lock:
            return {
                kind: {"answers": dict(counts), "slowest_seconds": round(self.slowest[kind], 2)}
                for kind, counts in self.seen.items()
            }

    def server_errors(self) -> int:
        with self.lock:
            return sum(n for counts in self.seen.values() for status, n in counts.items() if status.startswith("5"))


def trickle(port: int, secret: str, until: float, log: HostileLog, every: float = 0.25) -> None:
    """One hostile webhook request of each kind in turn, until ``until`` (monotonic)."""
    requests = webhook_requests(secret)
    kinds = list(requests)
    n = 0
    while time.monotonic() < until:
        kind = kinds[n % len(kinds)]
        body, headers = requests[kind]
        started = time.monotonic()
        log.record(kind, post(port, body, headers), time.monotonic() - started)
        n += 1
        time.sleep(every)


def redos_register(port: int, log: HostileLog, padding: int = REDOS_EMAIL_PADDING) -> None:
    """A crafted address on /register, with a real session and CSRF token (as a browser would)."""
    started = time.monotonic()
    status: int | str
    try:
        cookie, token = _register_form(port)
        form = urllib.parse.urlencode(
            {"csrf_token": token, "email": "a@" + "." * padding + "@", "password": "long-enough-password"}
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request(
            "POST",
            "/register",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        status = conn.getresponse().status
        conn.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        status = type(exc).__name__
    log.record("redos_register", status, time.monotonic() - started)


def _register_form(port: int) -> tuple[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/register")
    response = conn.getresponse()
    page = response.read().decode()
    # The session cookie is Secure in production; a browser over plain HTTP would not send it back, we do.
    cookie = "; ".join(value.split(";", 1)[0] for name, value in response.getheaders() if name.lower() == "set-cookie")
    conn.close()
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    if not match:
        raise ValueError("no csrf_token on /register")
    return cookie, match.group(1)


def slow_clients(port: int, count: int, hold_seconds: float, log: HostileLog) -> None:
    """``count`` connections that send headers and part of a body, then wait."""
    sockets = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f'Content-Length: 100000\r\nStripe-Signature: t=1,v1=00\r\n\r\n{{"id": '.encode()
            )
            sockets.append(sock)
        except OSError as exc:
            log.record("slow_client", type(exc).__name__, 0.0)
    time.sleep(hold_seconds)
    for sock in sockets:
        log.record("slow_client", "held", hold_seconds)
        sock.close()
