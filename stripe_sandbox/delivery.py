"""Webhook delivery: a background sender with retries and fault injection.

Every published event gets one job per endpoint. A single worker thread
sends jobs in due-time order (creation order when nothing is delayed), so
API requests never wait on receivers.
"""

import heapq
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field

from . import ids, thin
from .signing import signature_header

DEFAULT_RETRY_DELAYS = (1, 2, 4, 8, 16, 32, 60, 60, 60, 60)
ORDERS = ("created", "reverse", "shuffle")
STYLES = ("snapshot", "thin")  # an event destination's payload style
# Fault settings are bounded so a stray call cannot wedge a test run.
MAX_DUPLICATE = 10
MAX_DELAY_SECONDS = 60.0
MAX_FAIL_NEXT = 1000
SEND_TIMEOUT_SECONDS = 10


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    style: str = "snapshot"


@dataclass
class Faults:
    duplicate: int = 0
    order: str = "created"
    hold: bool = False
    delay_seconds: float = 0.0
    fail_next: int = 0
    drop: bool = False


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    event_id: str = field(compare=False)
    endpoint_id: str = field(compare=False)
    attempts: int = field(default=0, compare=False)


@dataclass
class _Record:
    """Delivery state of one event: its body per payload style, and per-endpoint outcome."""

    bodies: dict[str, bytes]
    created: int
    outcome: dict[str, str]  # endpoint id -> pending | succeeded | failed | dropped
    attempts: list[dict] = field(default_factory=list)


class Dispatcher:
    def __init__(self, retry_delays=DEFAULT_RETRY_DELAYS) -> None:
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.endpoints: dict[str, Endpoint] = {}
        self.faults = Faults()
        self._records: dict[str, _Record] = {}
        self._queue: list[_Job] = []
        self._held: list[_Job] = []
        self._in_flight = 0
        self._seq = 0
        self._stopping = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    # -- endpoints -------------------------------------------------------
    def add_endpoint(self, url: str, secret: str | None = None, style: str = "snapshot") -> Endpoint:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
        endpoint = Endpoint(ids.new_id("we"), url, secret or ids.webhook_secret(), style)
        with self._cond:
            self.endpoints[endpoint.id] = endpoint
        return endpoint

    def remove_endpoint(self, endpoint_id: str) -> bool:
        with self._cond:
            return self.endpoints.pop(endpoint_id, None) is not None

    # -- publishing ------------------------------------------------------
    def publish(self, event: dict) -> None:
        """Serialize ``event`` once per payload style in use and queue it for every endpoint."""
        with self._cond:
            outcome = dict.fromkeys(self.endpoints, "pending")
            record = _Record(_bodies(event, {e.style for e in self.endpoints.values()}), event["created"], outcome)
            self._records[event["id"]] = record
            if self.faults.drop:
                record.outcome = dict.fromkeys(outcome, "dropped")
                return
            for endpoint_id in outcome:
                for _ in range(1 + self.faults.duplicate):
                    self._enqueue(event["id"], endpoint_id)
            self._cond.notify_all()

    def _enqueue(self, event_id: str, endpoint_id: str) -> None:
        self._seq += 1
        job = _Job(time.monotonic() + self.faults.delay_seconds, self._seq, event_id, endpoint_id)
        if self.faults.hold:
            self._held.append(job)
        else:
            heapq.heappush(self._queue, job)

    # -- fault injection -------------------------------------------------
    def configure(self, **changes) -> Faults:
        """Apply fault settings; ``ValueError`` names the first bad one."""
        with self._cond:
            updated = Faults(**{**asdict(self.faults), **_checked(changes)})
            releasing = self.faults.hold and not updated.hold
            self.faults = updated
        if releasing:
            self.flush()
        return self.faults

    def reset_faults(self) -> Faults:
        with self._cond:
            self.faults = Faults()
        self.flush()
        return self.faults

    def flush(self) -> int:
        """Release held jobs in the configured order; returns how many."""
        with self._cond:
            held, self._held = self._held, []
            ordered = _ordered(held, self.faults.order)
            for job in ordered:
                self._seq += 1
                job.seq = self._seq
                job.due = time.monotonic() + self.faults.delay_seconds
                heapq.heappush(self._queue, job)
            self._cond.notify_all()
            return len(ordered)

    # -- inspection ------------------------------------------------------
    def delivery_success(self, event_id: str) -> bool:
        record = self._records.get(event_id)
        if record is None:
            return True
        return all(state == "succeeded" for state in record.outcome.values())

    def pending_webhooks(self, event_id: str) -> int:
        record = self._records.get(event_id)
        if record is None:
            return 0
        return sum(state != "succeeded" for state in record.outcome.values())

    def status(self, event_id: str) -> dict:
        with self._cond:
            record = self._records.get(event_id)
            if record is None:
                return {"outcome": {}, "attempts": [], "delivery_success": True}
            return {
                "outcome": dict(record.outcome),
                "attempts": [dict(a) for a in record.attempts],
                "delivery_success": self.delivery_success(event_id),
            }

    def body(self, event_id: str, style: str = "snapshot") -> bytes | None:
        record = self._records.get(event_id)
        return record.bodies.get(style) if record else None

    def counts(self) -> dict:
        with self._cond:
            return {"queued": len(self._queue), "held": len(self._held), "in_flight": self._in_flight}

    def forget(self, event_id: str) -> None:
        with self._cond:
            self._records.pop(event_id, None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no job is queued or in flight (held jobs excepted)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def clear(self) -> None:
        """Drop every record and pending job, and reset the faults."""
        with self._cond:
            self._records.clear()
            self._queue.clear()
            self._held.clear()
            self.faults = Faults()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    # -- worker ----------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._next_due_job()
            if job is None:
                return
            self._attempt(job)

    def _next_due_job(self) -> _Job | None:
        with self._cond:
            while not self._stopping:
                if self._queue:
                    wait = self._queue[0].due - time.monotonic()
                    if wait <= 0:
                        self._in_flight += 1
                        return heapq.heappop(self._queue)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _attempt(self, job: _Job) -> None:
        try:
            with self._cond:
                endpoint = self.endpoints.get(job.endpoint_id)
                record = self._records.get(job.event_id)
                injected = self.faults.fail_next > 0
                if injected:
                    self.faults.fail_next -= 1
            if endpoint is None or record is None:
                return
            result = _injected_failure() if injected else _send(endpoint, record.bodies[endpoint.style])
            self._settle(job, record, result, injected)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _settle(self, job: _Job, record: _Record, result: dict, injected: bool) -> None:
        with self._cond:
            job.attempts += 1
            record.attempts.append({"endpoint": job.endpoint_id, "at": time.time(), "injected": injected, **result})
            if result["ok"]:
                record.outcome[job.endpoint_id] = "succeeded"
                return
            if record.outcome.get(job.endpoint_id) != "succeeded":
                record.outcome[job.endpoint_id] = "failed"
            if job.attempts <= len(self.retry_delays):
                job.due = time.monotonic() + self.retry_delays[job.attempts - 1]
                heapq.heappush(self._queue, job)


def _bodies(event: dict, styles: set[str]) -> dict[str, bytes]:
    # Compact JSON: the indented form would use the slow pure-Python encoder.
    bodies = {"snapshot": json.dumps(event, separators=(",", ":")).encode("utf-8")}
    if "thin" in styles:
        bodies["thin"] = json.dumps(thin.notification(event), separators=(",", ":")).encode("utf-8")
    return bodies


def _send(endpoint: Endpoint, body: bytes) -> dict:
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(body, endpoint.secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) sandbox",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:
            return {"ok": 200 <= response.status < 300, "status": response.status, "error": None}
    except urllib.error.HTTPError as error:
        return {"ok": False, "status": error.code, "error": None}
    except (urllib.error.URLError, OSError) as error:
        return {"ok": False, "status": None, "error": str(error)}


def _injected_failure() -> dict:
    return {"ok": False, "status": None, "error": "fail_next: injected failure"}


def _ordered(jobs: list[_Job], order: str) -> list[_Job]:
    jobs = sorted(jobs, key=lambda j: j.seq)
    if order == "reverse":
        jobs.reverse()
    elif order == "shuffle":
        random.shuffle(jobs)
    return jobs


def _checked(changes: dict) -> dict:
    checkers = {
        "duplicate": lambda v: _bounded_int(v, 0, MAX_DUPLICATE),
        "order": lambda v: v if v in ORDERS else None,
        "hold": lambda v: v if isinstance(v, bool) else None,
        "delay_seconds": lambda v: _bounded_float(v, 0.0, MAX_DELAY_SECONDS),
        "fail_next": lambda v: _bounded_int(v, 0, MAX_FAIL_NEXT),
        "drop": lambda v: v if isinstance(v, bool) else None,
    }
    checked = {}
    for name, value in changes.items():
        if name not in checkers:
            raise ValueError(f"unknown delivery setting: {name}")
        result = checkers[name](value)
        if result is None:
            raise ValueError(f"invalid value for {name}: {value!r}")
        checked[name] = result
    return checked


def _bounded_int(value, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def _bounded_float(value, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if low <= value <= high else None
