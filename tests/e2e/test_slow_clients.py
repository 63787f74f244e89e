"""Slow clients against real gunicorn, started with the project's own gunicorn.conf.py.

32 connections send their headers and part of a body, then go quiet; a signed
webhook posted meanwhile must be answered about as fast as without them (with
sync workers, four such clients held the whole web and a webhook waited 34 s).
A client that stays quiet is cut off with 408 after CLIENT_IDLE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.processes import BIN, ROOT, Process, service_env
from tests.services import free_port, require_program, wait_for
from tests.settings_helpers import WEBHOOK_SECRET, make_settings
from tests.stripe_fixtures import body_of, event, sign, subscription

STALLED = 32
SAMPLES = 7
GIVE_UP_SECONDS = 15


@pytest.fixture
def start_gunicorn(redis_url, redis_conn, tmp_path):
    started = []

    def start(idle_timeout: float, config=ROOT / "gunicorn.conf.py") -> int:
        settings = make_settings(f"sqlite:///{tmp_path / 'portal.db'}", redis_url)
        env = service_env(settings, CLIENT_IDLE_TIMEOUT_SECONDS=idle_timeout)
        for name in ("WEB_CONCURRENCY", "WEB_THREADS", "PORT", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(name, None)  # gunicorn.conf.py's own defaults
        port = free_port()
        web = Process(
            "web",
            [str(BIN / "gunicorn"), "-c", str(config), "--bind", f"127.0.0.1:{port}", "portal_service:create_app()"],
            env,
            tmp_path,
        )
        started.append(web)
        expected = 2 * psutil.cpu_count()  # gunicorn.conf.py's default
        wait_for(
            lambda: len(psutil.Process(web.popen.pid).children()) == expected and _healthy(port),
            timeout=60,
            what="gunicorn and all its workers",
        )
        for _ in range(3 * expected):  # every worker has answered once: no first-request costs measured
            assert post_webhook(port)[0] == 200
        return port

    yield start
    for web in started:
        web.stop()


@pytest.fixture
def compose_proxy(tmp_path):
    """deploy/nginx.conf as compose runs it, pointed at a local gunicorn; skipped without nginx."""
    require_program(shutil.which("nginx") or "/usr/sbin/nginx", "nginx is missing: apt-get install -y nginx-light")
    running = []

    def start(web_port: int) -> int:
        port = free_port()
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        conf = conf.replace("server web:8000;", f"server 127.0.0.1:{web_port};")
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
        conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;")
        path = tmp_path / "nginx.conf"
        path.write_text(conf)
        running.append(subprocess.Popen(["nginx", "-c", str(path), "-g", "daemon off;"]))
        wait_for(lambda: _healthy(port), timeout=30, what="nginx in front of gunicorn")
        return port

    yield start
    for process in running:
        process.terminate()
        process.wait(10)


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    conn.request("GET", "/healthz")
    return conn.getresponse().status == 200


def post_webhook(port: int) -> tuple[int, float]:
    """One signed delivery on a new connection, as Stripe sends it: (status, seconds)."""
    body = body_of(event("customer.subscription.updated", subscription()))
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GIVE_UP_SECONDS)
    try:
        conn.request(
            "POST",
            "/api/webhooks/stripe",
            body=body,
            headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"},
        )
        status = conn.getresponse().status
    except TimeoutError:
        status = 200  # counted as answered at the give-up time: the latency check then fails, saying so
    finally:
        conn.close()
    return status, time.perf_counter() - started


def worst_latency(port: int, samples: int = SAMPLES, for_seconds: float = 0.0) -> float:
    """The slowest of ``samples`` webhooks posted one after another (and for at least ``for_seconds``)."""
    results, until = [], time.monotonic() + for_seconds
    while len(results) < samples or time.monotonic() < until:
        results.append(post_webhook(port))
    assert {status for status, _ in results} == {200}
    return max(seconds for _, seconds in results)


def stall(port: int, path: str) -> socket.socket:
    """Headers and the first 100 bytes of a 3,000-byte body, then nothing."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Stripe-Signature: t=1,v1=00\r\nContent-Length: 3000\r\n\r\n".encode()
        + b"x" * 100
    )
    return client


def accept_queue(port: int) -> int:
    """Connections the kernel holds for the listening socket, not yet accepted by a worker."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # LISTEN
            return int(fields[4].split(":")[1], 16)
    raise AssertionError("listening socket not found")


def unanswered(client: socket.socket) -> bool:
    client.setblocking(False)
    try:
        client.recv(1)
    except BlockingIOError:
        return True  # nothing received, connection open: still held by the server
    return False  # answered or closed


def read_to_close(client: socket.socket) -> bytes:
    received = b""
    while chunk := client.recv(65536):
        received += chunk
    return received


def test_stalled_connections_do_not_delay_a_webhook(start_gunicorn):
    port = start_gunicorn(idle_timeout=120)
    baseline = worst_latency(port)
    # Half on the webhook, half on a Flask form: both are read by a thread of the web.
    stalled = [stall(port, "/api/webhooks/stripe" if n % 2 else "/login") for n in range(STALLED)]
    # Until gunicorn took them all (a sync worker never does: 28 wait in the backlog, before the webhook).
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: accept_queue(port) == 0, timeout=2, what="the stalled connections accepted")
    loaded = worst_latency(port)
    assert loaded < baseline + 1.0, f"webhook {loaded:.3f}s with {STALLED} stalled clients, {baseline:.3f}s without"
    assert all(unanswered(client) for client in stalled), "a stalled connection was let go during the measurement"
    print(f"slowest webhook {loaded * 1000:.1f} ms with {STALLED} stalled clients, {baseline * 1000:.1f} ms without")
    for client in stalled:
        client.close()


def answered_but_never_closed(port: int) -> socket.socket:
    """A whole request, then nothing: the answer is never read and the connection never closed."""
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return client


def test_clients_that_never_close_do_not_hold_up_the_web(start_gunicorn):
    """Closing a connection must not wait on its client where gunicorn accepts new ones:
    32 clients cut off with 408 and 32 answered ones that keep their sockets open."""
    port = start_gunicorn(idle_timeout=1)
    baseline = worst_latency(port)
    hostile = [stall(port, "/api/webhooks/stripe") for _ in range(STALLED)]
    hostile += [answered_but_never_closed(port) for _ in range(STALLED)]
    loaded = worst_latency(port, for_seconds=4)  # past the 408s, while every client keeps its socket
    assert loaded < baseline + 1.0, f"webhook {loaded:.3f}s with clients that never close, {baseline:.3f}s without"
    for client in hostile:
        client.close()


def test_a_client_that_stays_quiet_is_cut_off_with_408(start_gunicorn):
    port = start_gunicorn(idle_timeout=1)
    clients = {path: stall(port, path) for path in ("/api/webhooks/stripe", "/login")}
    for path, client in clients.items():
        client.settimeout(30)
        answer = read_to_close(client).decode("latin-1")
        assert answer.startswith("HTTP/1.1 408"), (path, answer[:200])
        assert "Request body not received in time" in answer
        client.close()
    assert post_webhook(port)[0] == 200


def test_behind_the_compose_proxy_even_sync_workers_ignore_stalled_clients(start_gunicorn, compose_proxy, tmp_path):
    """nginx buffers each request whole: the stalled ones never reach gunicorn at all."""
    config = tmp_path / "sync.conf.py"
    config.write_text((ROOT / "gunicorn.conf.py").read_text() + "\nworker_class = 'sync'\nthreads = 1\n")
    port = compose_proxy(start_gunicorn(idle_timeout=120, config=config))
    baseline = worst_latency(port)
    stalled = [stall(port, "/api/webhooks/stripe" if n % 2 else "/login") for n in range(STALLED)]
    loaded = worst_latency(port)
    assert loaded < baseline + 1.0, f"webhook {loaded:.3f}s with {STALLED} stalled clients, {baseline:.3f}s without"
    assert all(unanswered(client) for client in stalled)
    for client in stalled:
        client.close()
