"""The benchmark command.

    .venv/bin/python -m bench.run [WHAT] [--quick] [--out DIR]

WHAT: one or more of ingest, inline, apply, lag, burst, buttons, memory, access, race, notify, thin; or all.

Prints a Markdown summary and writes every raw number to DIR/results.json
(default var/bench/). --quick is a few-second smoke run, not a measurement.
``thin`` (the thin-notification burst against a rate-limited sandbox) takes
minutes by design and is not part of ``all``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench import (
    access,
    access_race,
    apply,
    burst,
    buttons,
    ingest,
    inline,
    lag,
    machine,
    memory,
    notify,
    plots,
    thin_burst,
)
from bench.procs import ROOT
from bench.report import markdown

PARTS = ("ingest", "inline", "apply", "lag", "burst", "buttons", "memory", "access", "race", "notify")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "what",
        nargs="*",
        choices=(*PARTS, "thin", "all"),
        default=["all"],
        help="one or more parts; all = every part but thin",
    )
    parser.add_argument("--quick", action="store_true", help="a reduced smoke run (seconds, not minutes)")
    parser.add_argument("--out", type=Path, default=Path("var/bench"), help="where results and logs go")
    parser.add_argument("--web-workers", type=int, help="gunicorn workers for both ingest targets")
    return parser.parse_args(argv)


def wanted(args, part: str) -> bool:
    return part in args.what or (part != "thin" and "all" in args.what)


def plot_dir(args) -> Path:
    """docs/ for a measurement (the PNGs docs/benchmarks.md shows); the output directory for a quick run."""
    return args.out if args.quick else ROOT / "docs"


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": args.quick, "machine": machine.describe()}
    if wanted(args, "ingest"):
        ingest_plan = ingest.QUICK if args.quick else ingest.IngestPlan()
        if args.web_workers:
            ingest_plan = ingest.IngestPlan(**{**ingest_plan.__dict__, "workers": args.web_workers})
        results["ingest"] = ingest.run_ingest(args.out / "ingest", ingest_plan)
    if wanted(args, "inline"):
        results["inline"] = inline.run_inline(args.out / "inline", inline.QUICK if args.quick else inline.InlinePlan())
        plots.inline_plot(results["inline"], plot_dir(args) / "bench-inline.png")
    if wanted(args, "apply"):
        apply_plan = apply.QUICK if args.quick else apply.ApplyPlan()
        results["apply"] = apply.run_apply(args.out / "apply", apply_plan)
    if wanted(args, "lag"):
        results["lag"] = lag.run_lag(args.out / "lag", lag.QUICK if args.quick else lag.LagPlan())
        plots.lag_plot(results["lag"], plot_dir(args) / "bench-lag.png")
    if wanted(args, "burst"):
        results["burst"] = burst.run_burst(args.out / "burst", burst.QUICK if args.quick else burst.BurstPlan())
        plots.burst_plot(results["burst"], plot_dir(args) / "bench-burst.png")
    if wanted(args, "buttons"):
        results["buttons"] = buttons.run_buttons(
            args.out / "buttons", buttons.QUICK if args.quick else buttons.ButtonPlan()
        )
    if wanted(args, "memory"):
        results["memory"] = memory.run_memory(args.out / "memory", memory.QUICK if args.quick else memory.MemoryPlan())
    if wanted(args, "access"):
        results["access"] = access.run_access(args.out / "access", access.QUICK if args.quick else access.AccessPlan())
    if wanted(args, "race"):
        race_plan = access_race.QUICK if args.quick else access_race.RacePlan()
        results["race"] = access_race.run_race(args.out / "race", race_plan)
    if wanted(args, "notify"):
        results["notify"] = notify.run_notify(args.out / "notify", notify.QUICK if args.quick else notify.NotifyPlan())
    if wanted(args, "thin"):
        results["thin"] = thin_burst.run_thin(
            args.out / "thin", thin_burst.QUICK if args.quick else thin_burst.ThinPlan()
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
