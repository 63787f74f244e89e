"""How big and how long a run is: the full suite, and the short one CI runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    subscriptions: int = 200  # each a real sandbox history of about 15 events
    rounds: int = 3  # operations per subscription after its checkout (a renewal of all after the first)
    duplicates: float = 0.15  # share of events delivered a second time, anywhere in the flow
    poison_per_shape: int = 2
    workers: int = 3
    flow_seconds: float = 60  # deliveries are spread over this; the faults happen within it
    lock_seconds: float = 20
    redis_down_seconds: float = 3
    slow_clients: int = 32
    slow_seconds: float = 12
    redos_padding: int = 32_000
    claim_idle_seconds: int | None = None  # WORKER_CLAIM_IDLE_SECONDS; None keeps the production default (60)
    seed: int = 8


FULL = Profile()
# Under a minute once the service holds (two on today's main, which waits out
# the drain limit): fewer subscriptions and workers, a shorter flow and lock,
# and a killed worker's batch claimed after 15 s instead of 60, else the claim
# alone would outlast the run. Not less: a worker that keeps failing its batch
# re-reads it at least every 10 s (worker/billing_worker.py), so with 15 s no
# other worker rescues a stuck worker's batch that production would not.
SHORT = Profile(
    subscriptions=50,
    rounds=2,
    poison_per_shape=1,
    workers=2,
    flow_seconds=20,
    lock_seconds=5,
    redis_down_seconds=2,
    slow_clients=16,
    slow_seconds=4,
    redos_padding=16_000,
    claim_idle_seconds=15,
)
