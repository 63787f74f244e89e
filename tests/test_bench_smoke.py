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
