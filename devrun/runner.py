"""Start the whole service for development with one command.

Without a real Stripe key it starts the offline Stripe sandbox and points the
service at it; with ``STRIPE_SECRET_KEY`` (a real test key) and no
``STRIPE_API_BASE`` in ``.env`` it talks to Stripe. It starts a Redis of its
own unless ``REDIS_URL`` is set, migrates the SQLite database, creates a demo
user, then runs the Procfile's processes under honcho until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from devrun import host_app
from devrun.dotenv import read_dotenv
from devrun.redis_server import LocalRedis

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
BIN = Path(sys.executable).parent
CLI = str(BIN / "portal-service")
# Secrets made once per checkout (var/dev-secrets.json); a key added later is made on the next run.
SECRET_MAKERS = {
    "secret_key": lambda: secrets.token_urlsafe(48),
    "webhook_secret": lambda: "whsec_" + secrets.token_hex(24),
    "handoff_secret": lambda: secrets.token_urlsafe(48),
    "host_webhook_secret": lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "host_secret_key": lambda: secrets.token_urlsafe(48),
}
WEBHOOK_STYLES = ("snapshot", "thin", "both")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    VAR.mkdir(exist_ok=True)
    env = build_env(args)
    redis = None
    if not env.get("REDIS_URL"):
        redis = LocalRedis(VAR / "redis", append_only=True).start()
        env["REDIS_URL"] = redis.url
    try:
        prepare_database(env)
        host_app.create_api_key(env, CLI, ROOT, VAR)
        procfile = write_procfile(env, args)
        print_banner(env, args)
        return run_honcho(procfile, env)
    finally:
        if redis:
            redis.stop()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 5000)), help="web port (5000)")
    parser.add_argument("--sandbox-port", type=int, default=12111, help="Stripe sandbox port (12111)")
    parser.add_argument("--host-app-port", type=int, default=5001, help="example host app port (5001)")
    parser.add_argument(
        "--webhooks",
        choices=WEBHOOK_STYLES,
        default=os.environ.get("SANDBOX_WEBHOOKS", "snapshot"),
        help="what the sandbox's event destination sends: snapshot events (default), thin notifications, "
        "or both at once as during a migration (also SANDBOX_WEBHOOKS)",
    )
    return parser.parse_args(argv)


def sandbox_command(args, webhook_secret: str) -> str:
    url = f"http://127.0.0.1:{args.port}/api/webhooks/stripe"
    flags = {
        "snapshot": ["--webhook-url"],
        "thin": ["--thin-webhook-url"],
        "both": ["--webhook-url", "--thin-webhook-url"],
    }
    destinations = " ".join(f"{flag} {url}" for flag in flags[args.webhooks])
    return (
        f"sandbox: python -m stripe_sandbox --port {args.sandbox_port} {destinations} --webhook-secret {webhook_secret}"
    )


def uses_sandbox(env: dict) -> bool:
    key = env.get("STRIPE_SECRET_KEY", "")
    return not key or bool(env.get("STRIPE_API_BASE")) or key.startswith("sk_test_sandbox")


def build_env(args) -> dict:
    env = {**read_dotenv(ROOT / ".env"), **os.environ}
    local = dev_secrets()
    env.setdefault("SECRET_KEY", local["secret_key"])
    env.setdefault("APP_ENV", "development")
    env.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'portal.db'}")
    env.setdefault("BILLING_PLANS", "basic,pro")
    env["APP_BASE_URL"] = f"http://127.0.0.1:{args.port}"
    env["PORT"] = str(args.port)
    env["GUNICORN_CMD_ARGS"] = f"--bind 127.0.0.1:{args.port} --workers 2"
    if uses_sandbox(env):
        env["STRIPE_SECRET_KEY"] = "sk_test_sandbox"
        env["STRIPE_API_BASE"] = f"http://127.0.0.1:{args.sandbox_port}"
        env["STRIPE_WEBHOOK_SECRET"] = local["webhook_secret"]
    elif not env.get("STRIPE_WEBHOOK_SECRET"):
        sys.exit(
            "STRIPE_WEBHOOK_SECRET is missing: run `stripe listen --forward-to "
            f"localhost:{args.port}/api/webhooks/stripe` and put the whsec_... it prints in .env"
        )
    host_app.wire(env, args.host_app_port, local, VAR)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def dev_secrets() -> dict:
    """The secrets of SECRET_MAKERS, made once per checkout, kept in var/."""
    path = VAR / "dev-secrets.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    missing = {name: make() for name, make in SECRET_MAKERS.items() if name not in values}
    if missing:
        values.update(missing)
        path.write_text(json.dumps(values))
        path.chmod(0o600)
    return values


def prepare_database(env: dict) -> None:
    subprocess.run([CLI, "db", "upgrade"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    shown = subprocess.run([CLI, "user", "show", DEMO_EMAIL], env=env, cwd=ROOT, capture_output=True)
    if shown.returncode != 0:
        subprocess.run(
            [CLI, "user", "create", DEMO_EMAIL, "--password-stdin"],
            env=env,
            cwd=ROOT,
            check=True,
            input=DEMO_PASSWORD + "\n",
            text=True,
            stdout=subprocess.DEVNULL,
        )


def write_procfile(env: dict, args) -> Path:
    """The Procfile's processes (without the release phase), plus the sandbox and the example host app."""
    lines = [
        line
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("release:")
    ]
    if uses_sandbox(env):
        lines.append(sandbox_command(args, env["STRIPE_WEBHOOK_SECRET"]))
    lines.append(host_app.procfile_line(args.host_app_port))
    path = VAR / "Procfile.dev"
    path.write_text("\n".join(lines) + "\n")
    return path


def print_banner(env: dict, args) -> None:
    stripe_line = (
        f"Stripe sandbox (offline, not Stripe): {env['STRIPE_API_BASE']} ({args.webhooks} webhooks)"
        if uses_sandbox(env)
        else "Stripe: your test account (forward webhooks with `stripe listen`)"
    )
    print(
        "\n"
        f"  Billing portal running: http://127.0.0.1:{args.port}/\n"
        f"  Sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
        f"  {stripe_line}\n"
        f"{host_app.banner_lines(args.host_app_port)}"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )


def run_honcho(procfile: Path, env: dict) -> int:
    """Run the processes until honcho ends; Ctrl-C or SIGTERM stops them all."""
    command = [str(BIN / "honcho"), "start", "-f", str(procfile), "-d", str(ROOT), "--no-prefix"]
    process = subprocess.Popen(command, env=env, cwd=ROOT)

    def forward(signum, frame):
        if process.poll() is None:
            process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return process.wait()
