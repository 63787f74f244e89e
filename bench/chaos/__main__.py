"""The fault suite: the whole service on PostgreSQL, hurt while events flow.

    .venv/bin/python -m bench.chaos [--short] [--json PATH] [--database-url URL] ...

Prints one line of counts on stdout (progress goes to stderr) and writes every
detail to a JSON file; exits 1 unless nothing was lost, applied twice or left
wrong, every acknowledged poison event was recorded failed, every innocent
event was acknowledged, the backlog drained within 60 s of the last fault,
no worker exited on its own, no hostile request was answered 5xx and no
fault delayed a webhook's answer by more than a second over the run's median.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from bench.chaos import faults, profile
from bench.chaos.run import run

DEFAULT_DATABASE_URL = "postgresql://127.0.0.1:5432/test"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--short",
        action="store_true",
        help="the CI profile: about half a minute when the service holds (60 s more when not)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="PostgreSQL to run in (a fresh schema is made and dropped); "
        "default TEST_DATABASE_URL, else " + DEFAULT_DATABASE_URL,
    )
    parser.add_argument("--json", type=Path, help="where to write the result (default WORKDIR/result.json)")
    parser.add_argument("--workdir", type=Path, help="logs and Redis's files (default var/chaos/<time>)")
    parser.add_argument(
        "--faults",
        default=",".join(faults.ALL),
        help=f"comma-separated subset of: {','.join(faults.ALL)} (default: all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database schema and Redis's files for inspection")
    for knob in dataclasses.fields(profile.Profile):
        parser.add_argument(
            "--" + knob.name.replace("_", "-"),
            type=float if knob.type == "float" else int,
            help=f"override the profile's {knob.name}",
        )
    return parser.parse_args(argv)


def chosen_profile(args) -> profile.Profile:
    base = profile.SHORT if args.short else profile.FULL
    overrides = {
        k.name: getattr(args, k.name) for k in dataclasses.fields(profile.Profile) if getattr(args, k.name) is not None
    }
    return dataclasses.replace(base, **overrides)


def chosen_faults(text: str) -> set[str]:
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = names - set(faults.ALL)
    if unknown:
        raise SystemExit(f"unknown faults: {', '.join(sorted(unknown))} (known: {', '.join(faults.ALL)})")
    return names


def say(message: str) -> None:
    print(f"chaos: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    plan, names = chosen_profile(args), chosen_faults(args.faults)
    workdir = args.workdir or Path("var/chaos") / time.strftime("%Y%m%d-%H%M%S")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    result = run(plan, names, args.database_url, workdir.resolve(), say, keep=args.keep)
    result = {
        "started": started,
        "command": " ".join(["scripts/chaos", *(argv or sys.argv[1:])]),
        "profile": dataclasses.asdict(plan),
        "faults_chosen": sorted(names),
    } | result
    out = args.json or workdir / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    for failure in result["failures"]:
        say(f"FAILED: {failure}")
    say(f"result: {out}")
    print(result["line"], flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
