"""The PNGs docs/benchmarks.md shows, drawn from a run's results (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt  # after the backend is chosen


def lag_plot(runs: list[dict], path: Path) -> Path:
    """Received-to-applied lag of every event over the run, one series per database."""
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    for run in runs:
        at = [point[0] for point in run["series"]]
        lag = [point[1] for point in run["series"]]
        ax.plot(at, lag, ".", markersize=1.5, alpha=0.5, label=f"{run['backend']} (p99 {run['p99_ms']} ms)")
    first = runs[0]
    ax.set(
        title=f"Webhook received to row applied: {first['rate']} events/s, {first['workers']} workers",
        xlabel="seconds into the run (event received)",
        ylabel="lag, ms",
    )
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(markerscale=8, loc="upper right")
    return _save(fig, path)


def burst_plot(runs: list[dict], path: Path) -> Path:
    """Inbox stream length over time while N workers drain a burst, one line per N."""
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    for run in runs:
        at = [point[0] for point in run["backlog"]]
        depth = [point[1] for point in run["backlog"]]
        label = f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}: drained at {run['drained_s']} s"
        (line,) = ax.plot(at, depth, label=label)
        ax.axvline(run["accepted_s"], color=line.get_color(), linestyle=":", linewidth=1)
    first = runs[0]
    ax.set(
        title=f"Burst of {first['deliveries']:,} deliveries posted to the webhook ({first['backend']})",
        xlabel="seconds since the first POST (dotted: last POST answered)",
        ylabel="backlog (inbox stream length)",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
