"""The quick apply benchmark runs end to end: real workers drain every event.

Only completeness is checked, never speed: timings on a shared box are noise.
"""

from __future__ import annotations

from dataclasses import replace

from bench.apply import QUICK, run_apply


def test_quick_apply_benchmark_drains_every_event(tmp_path):
    plan = replace(QUICK, events=300, workers=(2,), backends=("sqlite",))
    [run] = run_apply(tmp_path, plan)
    assert run["drained"]
    assert sum(run["ledger"].values()) == run["unique_events"] > 0
    assert run["ledger"].get("failed", 0) == 0
    assert run["rq_leftovers"] == 0


def test_quick_thin_burst_fetches_and_applies_every_notification(tmp_path):
    from bench.thin_burst import QUICK as THIN_QUICK
    from bench.thin_burst import run_thin

    run = run_thin(tmp_path, THIN_QUICK)
    # Ignored: a worker's fetch that lost to the other worker's newer one (shared.sync.ordering.fetch_is_current).
    assert set(run["ledger"]) <= {"applied", "ignored"} and sum(run["ledger"].values()) == run["notifications"]
    assert run["all_active"] and run["rq_leftovers"] == 0
    assert run["subscriptions"] <= run["fetches"] <= run["notifications"]  # each one's notifications coalesced
