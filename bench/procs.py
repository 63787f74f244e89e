"""Starting, measuring and stopping the processes under test."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import psutil

from devrun.waiting import wait_for

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (VmHWM), in MiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def started(part: T | None, what: str) -> T:
    """``part`` once a start() has set it; a clear error when used before."""
    if part is None:
        raise RuntimeError(f"{what} is not started")
    return part


def spawn(args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (gunicorn and the worker both finish what they hold), then wait."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Gunicorn:
    """One gunicorn master on a loopback port, with the repo's gunicorn.conf.py (or a variant of it)."""

    def __init__(self, app_spec: str, port: int, workers: int, env: dict, log_path: Path, config: Path | None = None):
        self.app_spec, self.port, self.workers = app_spec, port, workers
        self.config = config or ROOT / "gunicorn.conf.py"
        self.env = dict(env, WEB_CONCURRENCY=str(workers))
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        args = [
            str(BIN / "gunicorn"),
            "-c",
            str(self.config),
            "--bind",
            f"127.0.0.1:{self.port}",
            self.app_spec,
        ]
        self.process = spawn(args, self.env, self.log_path)
        wait_for(self._answers, timeout=30, what=f"gunicorn {self.app_spec}")
        wait_for(lambda: len(self._children()) == self.workers, timeout=30, what="gunicorn workers")
        return self

    def _answers(self) -> bool:
        if started(self.process, "gunicorn").poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {self.log_path}")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        conn.request("GET", "/")
        return conn.getresponse().status > 0

    def pids(self) -> dict[str, list[int]]:
        return {"master": [started(self.process, "gunicorn").pid], "workers": [c.pid for c in self._children()]}

    def _children(self) -> list[psutil.Process]:
        return psutil.Process(started(self.process, "gunicorn").pid).children()

    def peak_rss(self) -> dict:
        """Peak RSS of the master and of each worker, and their sum (an upper bound)."""
        workers = [round(peak_rss_mb(child.pid), 1) for child in self._children()]
        master = round(peak_rss_mb(started(self.process, "gunicorn").pid), 1)
        return {"master_mb": master, "workers_mb": workers, "total_mb": round(master + sum(workers), 1)}

    def cpu_seconds(self) -> float:
        """CPU time used so far by the master and its workers (user + system)."""
        total = 0.0
        for proc in [psutil.Process(started(self.process, "gunicorn").pid), *self._children()]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total

    def stop(self) -> None:
        stop(started(self.process, "gunicorn"))


def service_env(**values) -> dict:
    """A web's or worker's environment: production settings, a test key, and a Stripe that is nowhere
    (a part that needs one passes STRIPE_API_BASE); ``values`` add to or replace these."""
    defaults = {
        "SECRET_KEY": "bench-secret-key-long-enough-for-production-use",
        "APP_ENV": "production",
        "STRIPE_SECRET_KEY": "sk_test_bench",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
    }
    return base_env(**{**defaults, **values})


def base_env(**values) -> dict:
    """The environment of a child: ours, minus anything that could point it elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "STRIPE_", "WEB_", "WORKER_", "PORT"))
    }
    env.update({key: str(value) for key, value in values.items()})
    return env
