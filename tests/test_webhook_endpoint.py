"""POST /api/webhooks/stripe over HTTP: what is accepted, what is refused, and why."""

from __future__ import annotations

import io
import time

import pytest
import redis as redis_lib

from portal_service import create_app
from shared.sync import inbox
from tests.settings_helpers import SECOND_SECRET, WEBHOOK_SECRET, make_settings
from tests.stripe_fixtures import body_of, event, sign, subscription
from tests.webhook_helpers import URL, post


def queued(redis_conn) -> list[dict]:
    return [fields for _, fields in redis_conn.xrange(inbox.STREAM_KEY)]


def a_body() -> tuple[dict, bytes]:
    evt = event("customer.subscription.updated", subscription())
    return evt, body_of(evt)


def test_signed_event_is_queued_with_its_exact_body(web, redis_conn):
    evt, body = a_body()
    response = post(web, body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "id": evt["id"]}
    [entry] = queued(redis_conn)
    assert entry[b"id"] == evt["id"].encode()
    assert entry[b"type"] == b"customer.subscription.updated"
    assert entry[b"body"] == body


def test_a_webhook_answer_sets_no_cookie(web, redis_conn):
    _, body = a_body()
    web.set_cookie("session", "a-cookie-stripe-would-never-send")
    response = post(web, body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_any_of_the_rotated_secrets_is_accepted(web, redis_conn):
    _, body = a_body()
    assert post(web, body, sign(body, SECOND_SECRET)).status_code == 200
    assert len(queued(redis_conn)) == 1


def test_header_with_several_v1_signatures_passes_when_one_matches(web, redis_conn):
    _, body = a_body()
    good = sign(body, WEBHOOK_SECRET)
    header = good.replace("v1=", "v1=" + "0" * 64 + ",v1=")
    assert post(web, body, header).status_code == 200


def test_redelivery_of_the_same_event_is_queued_again_not_dropped(web, redis_conn):
    _, body = a_body()
    for _ in range(2):
        assert post(web, body, sign(body, WEBHOOK_SECRET)).status_code == 200
    assert len(queued(redis_conn)) == 2  # the worker's ledger, not the web, deduplicates


@pytest.mark.parametrize(
    "signature, message",
    [
        (None, "Missing Stripe-Signature header"),
        ("", "Missing Stripe-Signature header"),
        ("garbage", "Malformed Stripe-Signature header"),
        ("t=abc,v1=00", "Malformed Stripe-Signature header: t= must be Unix seconds"),
        ("t=123", "Malformed Stripe-Signature header: needs t= and v1="),
        # str.isdigit() takes these; int() then raised, answering 500
        ("t=\u00b2,v1=00", "Malformed Stripe-Signature header: t= must be Unix seconds"),
        ("t=" + "9" * 5000 + ",v1=00", "Malformed Stripe-Signature header: t= must be Unix seconds"),
        ("t=-1,v1=00", "Malformed Stripe-Signature header: t= must be Unix seconds"),
        ("t=\u0661\u0662,v1=00", "Malformed Stripe-Signature header: t= must be Unix seconds"),  # Arabic-Indic
    ],
)
def test_missing_or_malformed_header_is_refused(web, redis_conn, signature, message):
    _, body = a_body()
    response = post(web, body, signature)
    assert response.status_code == 400
    assert response.get_json() == {"error": message}
    assert queued(redis_conn) == []


def test_a_non_ascii_signature_is_no_match_not_an_error(web, redis_conn):
    """hmac.compare_digest raises on non-ASCII text: such a v1 can never match, and says so."""
    _, body = a_body()
    response = post(web, body, f"t={int(time.time())},v1=\u00e9\u00e9")
    assert response.status_code == 400
    assert response.get_json() == {"error": "Malformed Stripe-Signature header: needs t= and v1="}
    good = sign(body, WEBHOOK_SECRET)
    assert post(web, body, good + ",v1=\u00e9").status_code == 200  # a readable one beside it still counts
    assert len(queued(redis_conn)) == 1


@pytest.mark.parametrize(
    "length, status, message",
    [
        ("\u00b2", 400, "Malformed Content-Length header"),
        ("12a", 400, "Malformed Content-Length header"),
        ("-1", 400, "Malformed Content-Length header"),
        ("9" * 5000, 413, "Request body too large"),  # int() refuses > 4,300 digits
        ("99999999999999999999", 413, "Request body too large"),
    ],
)
def test_an_unreadable_or_huge_content_length_is_refused(web, redis_conn, length, status, message):
    _, body = a_body()
    environ = {"CONTENT_LENGTH": length}
    response = web.post(
        URL,
        input_stream=io.BytesIO(body),
        environ_overrides=environ,
        headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)},
    )
    assert response.status_code == status
    assert response.get_json() == {"error": message}
    assert queued(redis_conn) == []


def test_a_content_length_with_leading_zeros_is_read(web, redis_conn):
    _, body = a_body()
    response = web.post(
        URL,
        input_stream=io.BytesIO(body),
        environ_overrides={"CONTENT_LENGTH": f"000{len(body)}"},
        headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)},
    )
    assert response.status_code == 200
    assert len(queued(redis_conn)) == 1


def test_webhook_answers_are_never_cached(web, redis_conn):
    _, body = a_body()
    assert post(web, body, sign(body, WEBHOOK_SECRET)).headers["Cache-Control"] == "no-store"
    assert post(web, body, "garbage").headers["Cache-Control"] == "no-store"


def test_wrong_secret_is_refused_without_echoing_secrets(web, redis_conn):
    _, body = a_body()
    response = post(web, body, sign(body, "whsec_attacker"))
    assert response.status_code == 400
    assert response.get_json() == {"error": "No signature matches the payload"}
    assert WEBHOOK_SECRET not in response.get_data(as_text=True)
    assert queued(redis_conn) == []


def test_tampered_body_is_refused(web, redis_conn):
    _, body = a_body()
    signature = sign(body, WEBHOOK_SECRET)
    response = post(web, body.replace(b"active", b"canceled"), signature)
    assert response.status_code == 400
    assert queued(redis_conn) == []


@pytest.mark.parametrize("offset, message", [(-301, "too old"), (301, "in the future")])
def test_timestamps_outside_five_minutes_are_refused(web, redis_conn, offset, message):
    _, body = a_body()
    response = post(web, body, sign(body, WEBHOOK_SECRET, int(time.time()) + offset))
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert queued(redis_conn) == []


@pytest.mark.parametrize("offset", [-290, 290])
def test_timestamps_inside_the_window_pass(web, redis_conn, offset):
    _, body = a_body()
    assert post(web, body, sign(body, WEBHOOK_SECRET, int(time.time()) + offset)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        # an event missing its id, type, created or data.object: tests/test_event_shapes.py
        b'{"id": "evt_1", "type": "x", "created": 1, "data": {"object": {"amount": NaN}}}',  # not JSON
        '{"id": "evt_1", "type": "x", "created": 1, "data": {"object": {}}}'.encode("utf-16"),  # not UTF-8
    ],
)
def test_signed_body_that_is_not_an_event_is_refused(web, redis_conn, body):
    response = post(web, body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("Body is not")
    assert queued(redis_conn) == []


def test_body_over_the_limit_is_413(web, redis_conn):
    evt = event("customer.updated", {"id": "cus_1", "padding": "x" * 70_000})
    body = body_of(evt)
    response = post(web, body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 413
    assert response.get_json() == {"error": "Request body too large"}
    assert queued(redis_conn) == []


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_405(web, redis_conn, method):
    response = getattr(web, method)(URL)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert "not allowed" in response.get_json()["error"]
    assert queued(redis_conn) == []


def test_a_chunked_body_over_the_limit_is_413(web, redis_conn):
    """No Content-Length (chunked transfer): the limit is enforced while reading."""
    evt = event("customer.updated", {"id": "cus_1", "padding": "x" * 70_000})
    body = body_of(evt)
    response = web.post(
        URL,
        input_stream=io.BytesIO(body),
        headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413
    assert queued(redis_conn) == []


def test_other_paths_still_reach_the_flask_app(web):
    assert web.get("/login").status_code == 200
    assert web.get("/api/webhooks/stripe/extra").status_code == 404


def test_redis_down_answers_503_quickly_so_stripe_retries(tmp_path):
    from tests.services import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'x.db'}", dead, redis_timeout_seconds=0.5))
    _, body = a_body()
    response = post(app.test_client(), body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 503
    assert response.get_json() == {"error": "Queue unavailable; retry later"}


def test_redis_that_does_not_answer_times_out_with_503(tmp_path):
    """A listener that accepts but never replies: without the timeout this would hang."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    app = create_app(
        make_settings(f"sqlite:///{tmp_path / 'x.db'}", f"redis://127.0.0.1:{port}/0", redis_timeout_seconds=0.3)
    )
    _, body = a_body()
    response = post(app.test_client(), body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 503
    server.close()


def test_after_a_redis_restart_deliveries_are_queued_again(tmp_path):
    from tests.services import RedisServer

    private = RedisServer(tmp_path / "redis").start()
    try:
        client = create_app(
            make_settings(f"sqlite:///{tmp_path / 'x.db'}", private.url, redis_timeout_seconds=0.5)
        ).test_client()
        bodies = [a_body() for _ in range(4)]

        def statuses(*ns):
            return [post(client, bodies[n][1], sign(bodies[n][1], WEBHOOK_SECRET)).status_code for n in ns]

        assert statuses(0) == [200]
        private.stop()
        private.start()  # between two deliveries: the writer's socket is dead, and it does not know yet
        assert statuses(1) == [200]
        private.stop()
        assert statuses(2) == [503]
        private.start()  # the same port again, empty: this test's server keeps nothing on disk
        assert statuses(3) == [200]
        conn = redis_lib.Redis.from_url(private.url)
        assert [fields[b"id"].decode() for _, fields in conn.xrange(inbox.STREAM_KEY)] == [bodies[3][0]["id"]]
    finally:
        private.stop()


def test_a_reply_that_comes_after_the_timeout_is_never_taken_for_the_next_ones(redis_url, redis_conn):
    """Redis answers the first append late: that push fails (503 for Stripe), and every later push
    gets its own entry id, not the late reply."""
    relay = DelayedRelay(redis_url, first_reply_delay=1.0)
    writer = inbox.InboxWriter(relay.url, timeout=0.3)
    with pytest.raises(redis_lib.TimeoutError):
        writer.push("evt_late", "customer.updated", b"{}")
    assert relay.late_reply_sent.wait(10), "the relay never sent the late reply"
    ids = {writer.push(f"evt_{n}", "customer.updated", b"{}"): f"evt_{n}" for n in range(3)}
    stored = {entry_id.decode(): fields[b"id"].decode() for entry_id, fields in redis_conn.xrange(inbox.STREAM_KEY)}
    assert {entry_id: stored[entry_id] for entry_id in ids} == ids
    relay.close()


class DelayedRelay:
    """A TCP relay to Redis that holds back the first entry id it relays for ``first_reply_delay`` seconds."""

    def __init__(self, redis_url: str, first_reply_delay: float):
        import socket
        import threading
        from urllib.parse import urlsplit

        target = urlsplit(redis_url)
        self.target, self.delay, self.delayed = (target.hostname, target.port), first_reply_delay, False
        self.late_reply_sent = threading.Event()  # set once the held-back reply has reached the client's socket
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}{target.path or '/0'}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source, sink, replies):
        try:
            while data := source.recv(65536):
                # The first bulk reply is XADD's entry id; the +OK replies before it
                # answer the handshake redis-py sends on connecting.
                late = replies and not self.delayed and data.startswith(b"$")
                if late:
                    self.delayed = True
                    time.sleep(self.delay)  # the fault under test: Redis answering late
                sink.sendall(data)
                if late:
                    self.late_reply_sent.set()
        except OSError:
            pass

    def close(self):
        self.listener.close()


def test_the_inbox_writer_serves_threads_each_append_its_own_answer(redis_url, redis_conn):
    """gunicorn runs threads (gunicorn.conf.py): each push gets its own entry id back, none is mixed up."""
    import threading

    writer = inbox.InboxWriter(redis_url, timeout=5)
    results: dict[str, str] = {}

    def push_many(thread: int):
        for n in range(50):
            event_id = f"evt_T{thread}_{n}"
            results[writer.push(event_id, "customer.updated", b"{}")] = event_id

    threads = [threading.Thread(target=push_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = {entry_id.decode(): fields[b"id"].decode() for entry_id, fields in redis_conn.xrange(inbox.STREAM_KEY)}
    assert len(results) == 400 and stored == results


def test_threads_time_out_on_a_silent_redis_side_by_side_not_one_after_another():
    """Each thread has its own connection: four appends to a Redis that never answers each give
    up after about the timeout (503), not after the ones ahead of them have timed out too."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(5)], daemon=True).start()
    writer = inbox.InboxWriter(f"redis://127.0.0.1:{server.getsockname()[1]}/0", timeout=0.5)

    def timed_push(times: list):
        started = time.monotonic()
        with pytest.raises(redis_lib.TimeoutError):
            writer.push("evt_silent", "customer.updated", b"{}")
        times.append(time.monotonic() - started)

    alone: list = []
    timed_push(alone)  # the baseline: one append alone
    together: list = []
    threads = [threading.Thread(target=timed_push, args=(together,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.close()
    assert len(together) == 4 and max(together) < 2 * alone[0], (alone, together)
