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
        (dots,) = ax.plot(at, lag, ".", markersize=1.5, alpha=0.4, label=f"{run['backend']}: each event")
        seconds, p99s = per_second_p99(run["series"])
        ax.plot(seconds, p99s, color=dots.get_color(), linewidth=1.2, label=f"{run['backend']}: p99 of each second")
    first = runs[0]
    ax.axvspan(0, first["warmup_seconds"], color="grey", alpha=0.15, label="warm-up (not counted)")
    ax.set(
        title=f"Webhook received to row applied: {first['rate']} events/s, {first['workers']} workers",
        xlabel="seconds into the run (event received)",
        ylabel="lag, ms",
    )
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(markerscale=8, loc="upper right", fontsize=8)
    return _save(fig, path)


def per_second_p99(series) -> tuple[list[float], list[float]]:
    """The p99 lag of the events received in each whole second, placed at the second's middle."""
    by_second: dict[int, list[float]] = {}
    for at, lag in series:
        by_second.setdefault(int(at), []).append(lag)
    seconds = sorted(by_second)
    p99s = [sorted(by_second[s])[min(len(by_second[s]) - 1, int(0.99 * len(by_second[s])))] for s in seconds]
    return [s + 0.5 for s in seconds], p99s


def burst_plot(runs: list[dict], path: Path) -> Path:
    """Inbox stream length over time while N workers drain a burst: one panel per database, a line per N."""
    backends = list(dict.fromkeys(run["backend"] for run in runs))
    fig, axes = plt.subplots(1, len(backends), figsize=(5 * len(backends), 3.8), dpi=110, squeeze=False)
    for ax, backend in zip(axes[0], backends, strict=True):
        for run in (r for r in runs if r["backend"] == backend):
            at = [point[0] for point in run["backlog"]]
            depth = [point[1] for point in run["backlog"]]
            label = f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}: drained at {run['drained_s']} s"
            (line,) = ax.plot(at, depth, label=label)
            ax.axvline(run["accepted_s"], color=line.get_color(), linestyle=":", linewidth=1)
        ax.set(
            title=backend, xlabel="seconds since the first POST (dotted: last answer)", ylabel="backlog (stream length)"
        )
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"A burst of {runs[0]['deliveries']:,} deliveries posted to the webhook, drained by N workers")
    return _save(fig, path)


def inline_plot(result: dict, path: Path) -> Path:
    """Requests/s and p99 of the bare route, the webhook and the inline design, per setup and concurrency."""
    groups = [
        (f"{run['backend']}{f' +{d} ms' if (d := run['delay_ms']) else ''}\n{c} conn.", report)
        for run in result["runs"]
        for c, report in run["concurrency"].items()
    ]
    targets = (
        ("bare", "bare Flask route"),
        ("webhook", "this service's webhook"),
        ("inline", "inline: this project's applier"),
        ("lean", "inline: leanest handler"),
    )
    fig, (rps_ax, p99_ax) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    width = 0.2
    for n, (target, label) in enumerate(targets):
        xs = [g + (n - 1.5) * width for g in range(len(groups))]
        rps_ax.bar(xs, [report[target]["rps"] for _, report in groups], width, label=label)
        p99_ax.bar(xs, [report[target]["p99_ms"] for _, report in groups], width, label=label)
    for ax, title, unit in ((rps_ax, "throughput", "requests/s"), (p99_ax, "p99 latency (log)", "ms")):
        ax.set_xticks(range(len(groups)), [name for name, _ in groups], fontsize=8)
        ax.set(title=title, ylabel=unit)
        ax.grid(True, axis="y", alpha=0.3)
    p99_ax.set_yscale("log")
    rps_ax.legend(fontsize=8)
    fig.suptitle("Webhook ingest vs verifying and applying inside the request (gunicorn -w 4, same settings)")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
