"""One run of the fault suite: histories, the stack, the flow with its faults, the drain, the counts."""

from __future__ import annotations

import math
import random
import shutil
import statistics
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import redis

from bench import machine
from bench.apply import add_users
from bench.chaos import faults as fault_module
from bench.chaos import tally
from bench.chaos.deliveries import Delivery, Poster
from bench.chaos.hostile import HostileLog
from bench.chaos.poison import poison_events
from bench.chaos.profile import Profile
from bench.chaos.stack import Postgres, Stack
from bench.events import body_of
from bench.histories import Histories, expected_rows, make_histories
from shared.sync import inbox
from stripe_sandbox.server import run_in_thread

SAMPLE_SECONDS = 0.5


def build_deliveries(histories: Histories, profile: Profile, with_poison: bool, rng: random.Random):
    """Every event once, a share again, all shuffled and spread over the flow; poison mixed in."""
    events = histories.events + [
        rng.choice(histories.events) for _ in range(int(len(histories.events) * profile.duplicates))
    ]
    rng.shuffle(events)
    step = profile.flow_seconds / max(len(events), 1)
    deliveries = [Delivery(e["id"], body_of(e), n * step) for n, e in enumerate(events)]
    if with_poison:
        snapshots = [e["data"]["object"] for e in histories.events if e["type"].startswith("customer.subscription.")]
        newest = max(e["created"] for e in histories.events) + 1000
        first, last = (f * profile.flow_seconds for f in fault_module.HOSTILE_WINDOW)
        for via, (shape, event) in poison_events(profile.poison_per_shape, snapshots, newest, rng):
            received = "soon" if shape == "received_not_a_time" else None
            deliveries.append(
                Delivery(
                    event["id"], body_of(event), rng.uniform(first, last), poison=shape, via=via, received=received
                )
            )
    return deliveries


class Sampler:
    """The backlog, the ledger and the workers every half second: shows when a fault stopped progress."""

    def __init__(self, stack: Stack, poster: Poster, t0: float):
        self.stack, self.poster, self.t0 = stack, poster, t0
        self.rows: list[list] = []
        self._stop = threading.Event()
        self._redis = redis.Redis.from_url(stack.redis.url, socket_timeout=1, socket_connect_timeout=1)

    def start(self) -> Sampler:
        threading.Thread(target=self._run, name="chaos-sampler", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def backlog(self) -> int | None:
        """Deliveries in the stream (applied ones are deleted); None while Redis is unreachable."""
        try:
            return inbox.depth(self._redis)
        except redis.RedisError:
            return None

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                settled = tally.count_settled()
            except Exception:  # the suite's own connection is not under test; a gap in the timeline is fine
                settled = None
            acknowledged = sum(1 for a in self.poster.attempts[:] if isinstance(a.status, int) and a.status < 300)
            self.rows.append(
                [
                    round(time.monotonic() - self.t0, 1),
                    self.backlog(),
                    settled,
                    len(self.stack.live_workers()),
                    acknowledged,
                ]
            )


def wait_drained(poster: Poster, sampler: Sampler, deadline: float) -> float | None:
    """Monotonic time the backlog emptied (nothing left to post, nothing in the stream), or None."""
    while time.monotonic() < deadline:
        if poster.idle() and sampler.backlog() == 0:
            return time.monotonic()
        time.sleep(0.1)
    return None


def latency(attempts, windows) -> dict:
    """Webhook answer times of innocent deliveries, overall and during each fault."""

    def summary(picked):
        seconds = sorted(a.seconds for a in picked)
        if not seconds:
            return {"requests": 0}
        p99 = seconds[math.ceil(len(seconds) * 0.99) - 1]  # nearest rank
        return {
            "requests": len(seconds),
            "median_ms": round(statistics.median(seconds) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1),
            "max_ms": round(seconds[-1] * 1000, 1),
            "not_2xx": sum(1 for a in picked if not (isinstance(a.status, int) and a.status < 300)),
        }

    innocent = [a for a in attempts if not a.poison]
    out = {"all": summary(innocent)}
    for record in windows:
        if record.name in fault_module.TIMED:
            out[record.name] = summary([a for a in innocent if record.started <= a.at <= (record.ended or a.at)])
    return out


def run(profile: Profile, fault_names: set[str], base_url: str, workdir: Path, say, keep: bool = False) -> dict:
    run_id = uuid.uuid4().hex[:8]
    rng = random.Random(profile.seed)
    with ExitStack() as cleanup:
        sandbox = run_in_thread()
        cleanup.callback(sandbox.stop)
        say(f"run {run_id}: making {profile.subscriptions} subscription histories in the Stripe sandbox")
        histories = make_histories(sandbox, profile.subscriptions, profile.rounds, profile.seed)
        postgres = Postgres(base_url, run_id).create()
        if not keep:
            cleanup.callback(postgres.drop)
        add_users(histories.users)
        extra = {} if profile.claim_idle_seconds is None else {"WORKER_CLAIM_IDLE_SECONDS": profile.claim_idle_seconds}
        stack = Stack(workdir, postgres, sandbox.url, profile.workers, extra)
        if not keep:  # after the stack stops (callbacks run last first): Redis's files, megabytes a run
            cleanup.callback(shutil.rmtree, workdir / "redis", True)
        cleanup.callback(stack.stop)
        stack.start()
        deliveries = build_deliveries(histories, profile, "poison" in fault_names, rng)
        say(
            f"stack up (web {stack.url}, {profile.workers} workers, schema {postgres.schema}); "
            f"posting {len(deliveries)} deliveries of {len(histories.events)} events over {profile.flow_seconds:.0f}s"
        )
        return _flow(profile, fault_names, stack, sandbox, histories, deliveries, say) | {
            "run_id": run_id,
            "schema": postgres.schema,
            "workdir": str(workdir),
        }


def _flow(profile, fault_names, stack, sandbox, histories, deliveries, say) -> dict:
    poster = Poster(stack.web.port, stack.secret, stack.redis.url)
    log = HostileLog()
    t0 = time.monotonic()
    poster.start(deliveries, t0)
    sampler = Sampler(stack, poster, t0).start()
    runner = fault_module.FaultRunner(stack, profile, t0, log, say)
    for thread in runner.start(fault_names):
        thread.join()
    poison_due = [d.due for d in deliveries if d.poison]
    if poison_due:
        runner.records.append(
            fault_module.Record("poison", min(poison_due), max(poison_due), {"events": len(poison_due)})
        )
    # The backlog cannot empty before the flow has been posted: the drain clock
    # starts at the end of the last fault or of the flow, whichever is later.
    last_fault = max(runner.last_end(), t0 + max(d.due for d in deliveries))
    poster.give_up_at = last_fault + tally.DRAIN_LIMIT_SECONDS
    say(f"faults over at {last_fault - t0:.1f}s; waiting up to {tally.DRAIN_LIMIT_SECONDS}s for the backlog")
    drained_at = wait_drained(poster, sampler, last_fault + tally.DRAIN_LIMIT_SECONDS)
    poster.stop()
    sampler.stop()
    counts, details = count(deliveries, histories, sandbox, stack, last_fault, drained_at)
    webhook_latency = latency(poster.attempts, runner.records)
    failures = counts.failures() + service_failures(stack, log) + latency_failures(webhook_latency)
    return {
        "counts": counts.as_dict(),
        "line": counts.line(),
        "failures": failures,
        "ok": not failures,
        "faults": [vars(r) for r in sorted(runner.records, key=lambda r: r.started)],
        "last_fault_seconds": round(last_fault - t0, 1),
        "deliveries": len(deliveries),
        "events": len(histories.events),
        "subscriptions": len(histories.subscription_ids),
        "webhook_latency": webhook_latency,
        "hostile": log.summary(),
        "hostile_server_errors": log.server_errors(),
        "worker_exits_not_caused_by_the_suite": stack.unplanned_exits,
        "timeline": {"columns": ["seconds", "stream", "settled", "live_workers", "2xx"], "rows": sampler.rows},
        "machine": machine.describe(),
    } | details


def service_failures(stack, log) -> list[str]:
    """Beyond the counts: a worker that exited on its own, or a hostile request answered 5xx."""
    broken = []
    if stack.unplanned_exits:
        broken.append(f"{len(stack.unplanned_exits)} worker exit(s) the suite did not cause")
    if log.server_errors():
        broken.append(f"{log.server_errors()} hostile request(s) answered 5xx")
    return broken


def latency_failures(webhook_latency: dict) -> list[str]:
    """A fault that delayed a webhook answer by more than a second over the run's median."""
    limit_ms = webhook_latency["all"]["median_ms"] + 1000
    return [
        f"a webhook took {window['max_ms']:.0f} ms during {name} (median {limit_ms - 1000:.0f} ms)"
        for name, window in webhook_latency.items()
        if window.get("max_ms", 0) > limit_ms
    ]


def count(deliveries, histories, sandbox, stack, last_fault, drained_at) -> tuple[tally.Counts, dict]:
    rows = tally.ledger()
    transitions = tally.settled_transitions()
    in_rq = tally.event_ids_in_rq(redis.Redis.from_url(stack.redis.url))
    innocent = {d.event_id for d in deliveries if not d.poison}
    acked = {d.event_id for d in deliveries if not d.poison and d.acknowledged_at is not None}
    poison_acked = {d.event_id: d.poison for d in deliveries if d.poison and d.acknowledged_at is not None}
    lost = sorted(e for e in acked if not tally.settled(rows, e))
    wrong = tally.wrong_rows(expected_rows(sandbox.stripe_client(), histories.subscription_ids), tally.stored_rows())
    twice = sorted(e for e, n in transitions.items() if n > 1)
    counts = tally.Counts(
        acknowledged=len(acked),
        applied=len(acked) - len(lost),
        lost=len(lost),
        applied_twice=len(twice),
        wrong=len(wrong),
        poison_failed=sum(1 for e in poison_acked if tally.failed(rows, in_rq, e)),
        poison_acknowledged=len(poison_acked),
        drain_seconds=None if drained_at is None else round(max(0.0, drained_at - last_fault), 1),
        unacknowledged=len(innocent - acked),
    )
    details = {
        "lost_still_in_stream": len(set(lost) & tally.event_ids_in_stream(redis.Redis.from_url(stack.redis.url))),
        "lost_sample": [{"id": e, "ledger": tally.ledger_row(rows, e)[0]} for e in lost[:20]],
        "wrong_sample": dict(list(wrong.items())[:10]),
        "applied_twice_sample": twice[:20],
        "poison": _poison_report(deliveries, rows, in_rq),
        "ledger_outcomes": dict(Counter(outcome for outcome, _ in rows.values())),
    }
    return counts, details


def _poison_report(deliveries, rows, in_rq) -> list[dict]:
    report = []
    for d in deliveries:
        if d.poison:
            answer = "2xx" if d.acknowledged_at is not None else (d.refused_with or "never answered")
            report.append(
                {
                    "shape": d.poison,
                    "via": d.via,
                    "id": d.event_id[:60],
                    "answer": answer,
                    "ledger": tally.ledger_row(rows, d.event_id)[0],
                    "in_rq": tally.in_rq(in_rq, d.event_id),
                }
            )
    return report
