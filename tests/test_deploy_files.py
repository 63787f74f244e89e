"""The deployment files. No Docker engine runs here, so docker-compose.yml and the
Dockerfile are parsed and checked; the commands they name are run locally."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.infra import migrations
from shared.infra.settings import Settings
from tests.settings_helpers import WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVICES = {"redis", "postgres", "migrate", "web", "worker", "proxy"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_compose_has_the_services_and_named_volumes(compose):
    assert set(compose["services"]) == SERVICES
    assert set(compose["volumes"]) == {"redis-data", "postgres-data"}
    assert "redis-data:/data" in compose["services"]["redis"]["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_redis_persists_every_second_and_never_evicts(compose):
    command = " ".join(compose["services"]["redis"]["command"])
    for setting in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert setting in command


def test_every_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        assert service["healthcheck"]["test"], name


@pytest.mark.parametrize("service", ["web", "worker"])
def test_web_and_worker_wait_for_redis_and_migrations(compose, service):
    depends = compose["services"][service]["depends_on"]
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_only_the_buffering_proxy_is_published(compose):
    """Slow clients reach nginx, which buffers each request whole; gunicorn is never published."""
    published = {name for name, service in compose["services"].items() if "ports" in service}
    assert published == {"proxy"}
    proxy, web = compose["services"]["proxy"], compose["services"]["web"]
    assert proxy["ports"] == ["${WEB_PORT:-8000}:8080"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert web["environment"]["TRUSTED_PROXY_HOPS"] == "1"  # the proxy's X-Forwarded-For is believed
    mount, target = proxy["volumes"][0].split(":")[:2]
    assert target == "/etc/nginx/nginx.conf"
    conf = (ROOT / mount).read_text()
    for directive in (
        "proxy_pass http://web;",
        "proxy_request_buffering on;",
        "client_body_timeout 10s;",
        "client_header_timeout 10s;",
        "client_max_body_size 1m;",
        "server web:8000;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    ):
        assert directive in conf, directive


def test_the_worker_can_be_scaled(compose):
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    grace = int(re.fullmatch(r"(\d+)s", worker["stop_grace_period"]).group(1))
    assert grace > 180  # RQ's default job timeout: the longest a job may run


def test_app_services_share_one_image_and_read_dot_env(compose):
    for name in ("migrate", "web", "worker"):
        service = compose["services"][name]
        assert service["image"] == "portal-service:latest" and service["build"] == "."
        assert service["env_file"] == ".env"
    assert compose["services"]["migrate"]["restart"] == "no"


def test_procfile_runs_the_same_commands_as_compose(compose):
    commands = {name: compose["services"][name]["command"] for name in ("migrate", "web", "worker")}
    assert shlex.split(procfile()["release"]) == commands["migrate"]
    assert shlex.split(procfile()["web"]) == commands["web"]
    assert shlex.split(procfile()["worker"]) == commands["worker"]


def test_dockerfile_is_slim_non_root_and_without_dev_extras():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM python:3.11-slim" in text
    assert re.search(r"^USER app$", text, re.M)
    assert "pip install ." in text and "[dev]" not in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests/", "stripe_sandbox/", ".venv", ".env"} <= set(ignored)


def test_env_example_documents_every_setting():
    text = (ROOT / ".env.example").read_text()
    source = (ROOT / "shared" / "infra" / "settings.py").read_text()
    read = set(re.findall(r'reader\.\w+\("([A-Z_]+)"', source))
    assert read, "no variables found in shared/infra/settings.py"
    lines = text.splitlines()
    for name in read | {"PORT", "WEB_CONCURRENCY", "WEB_THREADS", "PROMETHEUS_MULTIPROC_DIR"}:
        index = next((i for i, line in enumerate(lines) if re.match(rf"^#? ?{name}=", line)), None)
        assert index is not None, f"{name} missing from .env.example"
        assert lines[index - 1].startswith("#"), f"{name} has no comment"


def test_env_example_values_load_as_settings():
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    settings = Settings.from_env(values)
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.database_url.startswith("postgresql://portal:")


def env_for(tmp_path, redis_url) -> dict:
    return {
        **os.environ,
        "SECRET_KEY": "x" * 40,
        "REDIS_URL": redis_url,
        "APP_ENV": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'release.db'}",
        "STRIPE_SECRET_KEY": "sk_test_release",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def test_release_command_migrates_and_is_safe_to_run_again(tmp_path, redis_url):
    # As `docker compose run web ...` would start it: the web's metrics directory set, not yet made.
    env = {**env_for(tmp_path, redis_url), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "not-yet" / "prom")}
    command = [str(BIN / "portal-service"), "db", "upgrade"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    latest = migrations.LATEST_VERSION
    assert f"schema at version {latest} ({latest} applied now)" in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert "(0 applied now)" in again.stdout
    status = subprocess.run([str(BIN / "portal-service"), "db", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0 and "up to date" in status.stdout


def test_worker_command_answers_help():
    result = subprocess.run([sys.executable, "-m", "worker", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--healthcheck" in result.stdout and "--burst" in result.stdout


def test_gunicorn_config_reads_port_and_concurrency(monkeypatch):
    import runpy

    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "8")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["bind"], config["workers"], config["worker_tmp_dir"]) == ("0.0.0.0:8123", 3, "/dev/shm")
    # Threads, and no more connections per process than threads (tests/e2e/test_slow_clients.py)
    assert (config["worker_class"], config["threads"], config["worker_connections"]) == ("gthread", 8, 8)
    monkeypatch.setenv("WEB_CONCURRENCY", "")
    monkeypatch.setenv("WEB_THREADS", "")
    defaults = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (defaults["workers"], defaults["threads"]) == (2 * os.cpu_count(), 16)
