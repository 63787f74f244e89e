"""The quick benchmarks run end to end: real workers drain every event, the host hears of every change.

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


def test_quick_notification_lag_benchmark_tells_the_host_of_every_event(tmp_path):
    from bench.notify import QUICK as NOTIFY_QUICK
    from bench.notify import run_notify

    [run] = run_notify(tmp_path, replace(NOTIFY_QUICK, seconds=2))
    assert run["events"] == NOTIFY_QUICK.rate * 2  # every POST answered 200
    assert (run["never_notified"], run["unverified"]) == (0, 0)
    assert 0 < run["notifications"] <= run["events"]  # a notification may cover several events of one user


def test_quick_inline_benchmark_answers_every_request_and_the_inline_design_applies_each(tmp_path):
    from bench.inline import QUICK as INLINE_QUICK
    from bench.inline import run_inline

    [run] = run_inline(tmp_path, replace(INLINE_QUICK, setups=(("sqlite", 0),)))["runs"]
    [report] = run["concurrency"].values()
    for target in ("bare", "webhook", "inline", "lean"):
        assert report[target]["requests"] > 0
        assert (report[target]["non2xx"], report[target]["socket_errors"]) == (0, 0)
    # Each 2xx of the inline handlers is a ledger row applied inside the request (warm-up rounds add more).
    assert run["inline_applied"] >= run["inline_2xx_measured"] > 0


def test_quick_access_race_answers_every_read_while_listeners_are_killed(tmp_path, postgres_base_url):
    from bench.access_race import QUICK as RACE_QUICK
    from bench.access_race import run_race

    run = run_race(tmp_path, replace(RACE_QUICK, seconds=2, kill_every_s=0.5))
    assert run["answers"] > 0 and run["non200"] == 0
    assert run["commits"] > 0 and run["listener_kills"] > 0
