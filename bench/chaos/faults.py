"""The faults, each at its moment of the flow, each recorded with when it began and ended."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.chaos import hostile
from bench.chaos.profile import Profile
from bench.chaos.stack import Stack

# name -> when it starts, as a fraction of the flow. One after another, so a
# broken count can be traced to the fault before it (redos and slow clients
# are the web's faults; the rest hit the worker's side).
TIMED = {
    "worker-kill": 0.05,
    "worker-term": 0.12,
    "redis-kill": 0.20,
    "db-terminate": 0.32,
    "redos": 0.38,
    "slow-clients": 0.55,
    "table-lock": 0.75,
}
HOSTILE_WINDOW = (0.05, 0.9)  # the trickle of hostile webhook requests, and where poison is mixed in
ALL = (*TIMED, "hostile", "poison")


@dataclass
class Record:
    name: str
    started: float  # seconds after the flow started
    ended: float | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class FaultRunner:
    stack: Stack
    profile: Profile
    t0: float  # monotonic start of the flow
    log: hostile.HostileLog
    say: Callable[[str], None]  # progress, to stderr
    records: list[Record] = field(default_factory=list)

    def start(self, names) -> list[threading.Thread]:
        threads = [self._at(TIMED[name] * self.profile.flow_seconds, name) for name in TIMED if name in names]
        if "hostile" in names:
            threads.append(self._at(HOSTILE_WINDOW[0] * self.profile.flow_seconds, "hostile"))
        return threads

    def last_end(self) -> float:
        """Monotonic time the last fault ended."""
        return self.t0 + max((r.ended for r in self.records if r.ended is not None), default=0.0)

    def _at(self, offset: float, name: str) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(offset, name), name=f"chaos-{name}", daemon=True)
        thread.start()
        return thread

    def _run(self, offset: float, name: str) -> None:
        time.sleep(max(0.0, self.t0 + offset - time.monotonic()))
        record = Record(name, self._now())
        self.records.append(record)
        self.say(f"fault {name} at {record.started:.1f}s")
        try:
            record.detail = getattr(self, "_" + name.replace("-", "_"))() or {}
        except Exception as exc:  # the fault itself failed to happen: say so, do not pretend it did
            record.detail = {"error": f"{type(exc).__name__}: {exc}"}
            self.say(f"fault {name} could not be made: {exc}")
        record.ended = self._now()

    def _now(self) -> float:
        return time.monotonic() - self.t0

    # -- the faults -------------------------------------------------------------
    def _worker_kill(self) -> dict:
        victim, holding = self.stack.kill_worker(signal.SIGKILL)
        victim.process.wait(10)
        return {"killed": victim.name, "deliveries_it_held": holding, "replacement": self.stack.start_worker().name}

    def _worker_term(self) -> dict:
        victim, holding = self.stack.kill_worker(signal.SIGTERM)
        replacement = self.stack.start_worker()  # as an orchestrator rolls a process: the new one at once
        started = time.monotonic()
        code = victim.process.wait(120)
        return {
            "terminated": victim.name,
            "deliveries_it_held": holding,
            "exit_code": code,
            "exit_seconds": round(time.monotonic() - started, 2),
            "replacement": replacement.name,
        }

    def _redis_kill(self) -> dict:
        self.stack.kill_redis()
        time.sleep(self.profile.redis_down_seconds)
        self.stack.restart_redis()
        return {"down_seconds": self.profile.redis_down_seconds}

    def _db_terminate(self) -> dict:
        # Every worker connected first (one restarted by an earlier fault may still be starting),
        # else the fault would miss the very connections it is about.
        terminated = self.stack.postgres.terminate_service_connections(at_least=self.profile.workers)
        return {"live_workers": len(self.stack.live_workers()), "terminated_connections": terminated}

    def _table_lock(self) -> dict:
        self.stack.postgres.hold_table_lock("subscription", self.profile.lock_seconds)
        return {"table": "subscription", "held_seconds": self.profile.lock_seconds}

    def _redos(self) -> dict:
        count = self.stack.web.workers  # one per web process: enough to pin them all if the pattern is quadratic
        threads = [
            threading.Thread(
                target=hostile.redos_register, args=(self.stack.web.port, self.log, self.profile.redos_padding)
            )
            for _ in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {"requests": count, "email_length": self.profile.redos_padding + 3}

    def _slow_clients(self) -> dict:
        hostile.slow_clients(self.stack.web.port, self.profile.slow_clients, self.profile.slow_seconds, self.log)
        return {"connections": self.profile.slow_clients, "held_seconds": self.profile.slow_seconds}

    def _hostile(self) -> dict:
        until = self.t0 + HOSTILE_WINDOW[1] * self.profile.flow_seconds
        hostile.trickle(self.stack.web.port, self.stack.secret, until, self.log)
        return {"kinds": sorted(hostile.webhook_requests(self.stack.secret))}
