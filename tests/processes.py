"""Real processes for end-to-end tests: gunicorn (web) and python -m worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.services import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def service_env(settings, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        SECRET_KEY=settings.secret_key,
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        STRIPE_SECRET_KEY=settings.stripe_secret_key,
        STRIPE_WEBHOOK_SECRET=",".join(settings.stripe_webhook_secrets),
        STRIPE_API_BASE=settings.stripe_api_base or "",
        APP_ENV=settings.app_env,
        APP_BASE_URL=settings.app_base_url,
        BILLING_PLANS=",".join(settings.billing_plans),
        PASSWORD_HASH_PROFILE=settings.password_hash_profile,
        PYTHONPATH=str(ROOT),
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "portal-service"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


class Process:
    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - open for the process's life; closed in stop()
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)

    def signal(self, sig=signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.popen.wait(timeout)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")


def start_web(env: dict, log_dir: Path, workers: int = 2, port: int | None = None) -> tuple[Process, str]:
    port = port or free_port()
    args = [
        str(BIN / "gunicorn"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "10",
        "portal_service:create_app()",
    ]
    web = Process("web", args, env, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _get_status(url + "/login") == 200, timeout=30, what="gunicorn")
    return web, url


def start_worker(env: dict, log_dir: Path, name: str = "worker") -> Process:
    return Process(name, [sys.executable, "-m", "worker"], env, log_dir)


def _get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def post(url: str, body: bytes, headers: dict) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
