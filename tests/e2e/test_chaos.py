"""The fault suite's short run, exactly as ``scripts/chaos --short`` runs it.

Real gunicorn, real workers, a Redis of its own on an append-only file and a
fresh PostgreSQL schema; while sandbox histories flow in shuffled and
duplicated, a worker is SIGKILLed mid-batch and another SIGTERMed (both
replaced), Redis is SIGKILLed and restarted, every database connection of the
service is terminated, the subscription table is locked, poison events and
hostile requests are mixed in. Nothing acknowledged may be lost or applied
twice, every row must end right, every acknowledged poison event must be
recorded failed, and the backlog must drain within 60 s of the last fault.
PostgreSQL only: terminating connections and LOCK TABLE are what it tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.processes import ROOT


def test_nothing_acknowledged_is_lost_through_the_short_fault_suite(tmp_path, postgres_base_url):
    result_path = tmp_path / "result.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--short",
            "--database-url",
            postgres_base_url,
            "--json",
            str(result_path),
            "--workdir",
            str(tmp_path / "run"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result_path.exists(), run.stderr[-3000:]
    result = json.loads(result_path.read_text())
    counts, seen = result["counts"], f"{run.stdout.strip()} (details: {result_path})"
    assert counts["acknowledged"] > 500, seen  # the run really carried a flow of events
    assert counts["lost"] == 0, seen
    assert counts["applied_twice"] == 0, seen
    assert counts["wrong"] == 0, seen
    assert counts["unacknowledged"] == 0, seen
    assert counts["poison_acknowledged"] == 0 or counts["poison_failed"] == counts["poison_acknowledged"], seen
    assert counts["drain_seconds"] is not None and counts["drain_seconds"] <= 60, seen
    faults = {fault["name"]: fault["detail"] for fault in result["faults"]}
    assert all("error" not in detail for detail in faults.values()), faults  # every fault was really made
    assert faults["db-terminate"]["terminated_connections"] > 0, faults
    assert run.returncode == 0, seen
