"""Settings, read from the environment once into one frozen object.

A missing or malformed required variable refuses to start with a message that
names the variable; it never falls back to a default silently.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import overload

from shared.infra.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///var/portal.db"
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
AUTH_MODES = ("local", "handoff")  # sign-in by the local forms; by a token from the host app
FETCH_MODES = ("ties", "always")  # STRIPE_FETCH_MODE (shared.sync.apply)
# Half of Stripe's documented limits (100/s live, 25/s test), for every process of ours together:
# the rest is left for the Dashboard, other integrations and bursts.
DEFAULT_RATE_LIVE, DEFAULT_RATE_TEST = 50, 12


# Seconds before each retry of a notification to the host app: 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, 24 h.
HOST_WEBHOOK_RETRY_SCHEDULE = (5, 30, 120, 600, 3600, 21600, 86400)


@dataclass(frozen=True)
class Settings:
    secret_key: str
    database_url: str
    redis_url: str
    stripe_secret_key: str
    stripe_webhook_secrets: tuple[str, ...]
    stripe_api_base: str | None = None
    app_env: str = "production"
    app_base_url: str = "http://127.0.0.1:5000"
    webhook_tolerance_seconds: int = 300
    webhook_max_bytes: int = 1024 * 1024
    redis_timeout_seconds: float = 1.0
    past_due_grace_days: int = 0
    access_cache_size: int = 10_000  # users per web process; 0 = off (PostgreSQL only)
    worker_batch_size: int = 200
    worker_claim_idle_seconds: int = 60
    worker_max_retries: int = 5
    worker_stall_seconds: int = 300
    billing_plans: tuple[str, ...] = ()
    portal_configuration_id: str | None = None
    portal_locale: str | None = None
    log_level: str = "INFO"
    metrics_token: str | None = None
    worker_metrics_port: int = 0
    trusted_proxy_hops: int = 0
    client_idle_timeout_seconds: float = 10.0
    password_hash_profile: str = "production"
    auth_modes: tuple[str, ...] = ()  # as set; empty = unset, the default (see sign_in_modes)
    handoff_secrets: tuple[str, ...] = ()
    stripe_fetch_mode: str = "ties"
    stripe_rate_limit: int = 0  # requests per second; 0 = by the key's mode (stripe_requests_per_second)
    host_webhook_url: str | None = None
    host_webhook_secret: str | None = None
    host_webhook_timeout_seconds: float = 10.0
    host_webhook_retry_schedule: tuple[int, ...] = HOST_WEBHOOK_RETRY_SCHEDULE

    @property
    def is_development(self) -> bool:
        return self.app_env in ("development", "test")

    @property
    def stripe_requests_per_second(self) -> int:
        """STRIPE_RATE_LIMIT, or half of Stripe's limit for the key's mode."""
        if self.stripe_rate_limit:
            return self.stripe_rate_limit
        return DEFAULT_RATE_LIVE if self.stripe_secret_key.startswith(LIVE_KEY_PREFIXES) else DEFAULT_RATE_TEST

    @property
    def sign_in_modes(self) -> tuple[str, ...]:
        """AUTH_MODES, or local,handoff when unset (hand-off then answers 404 until HANDOFF_SECRET is set)."""
        return self.auth_modes or AUTH_MODES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        settings = cls(
            secret_key=reader.required("SECRET_KEY"),
            database_url=reader.text("DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=reader.required("REDIS_URL"),
            stripe_secret_key=reader.required("STRIPE_SECRET_KEY"),
            stripe_webhook_secrets=reader.csv("STRIPE_WEBHOOK_SECRET", required=True),
            stripe_api_base=reader.text("STRIPE_API_BASE", None),
            app_env=reader.text("APP_ENV", "production"),
            app_base_url=reader.text("APP_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            webhook_tolerance_seconds=reader.integer("WEBHOOK_TOLERANCE_SECONDS", 300),
            webhook_max_bytes=reader.integer("WEBHOOK_MAX_BYTES", 1024 * 1024),
            redis_timeout_seconds=reader.number("REDIS_TIMEOUT_SECONDS", 1.0),
            past_due_grace_days=reader.integer("ACCESS_PAST_DUE_GRACE_DAYS", 0),
            access_cache_size=reader.integer("ACCESS_CACHE_SIZE", 10_000),
            worker_batch_size=reader.integer("WORKER_BATCH_SIZE", 200),
            worker_claim_idle_seconds=reader.integer("WORKER_CLAIM_IDLE_SECONDS", 60),
            worker_max_retries=reader.integer("WORKER_MAX_RETRIES", 5),
            worker_stall_seconds=reader.integer("WORKER_STALL_SECONDS", 300),
            billing_plans=reader.csv("BILLING_PLANS"),
            portal_configuration_id=reader.text("PORTAL_CONFIGURATION_ID", None),
            portal_locale=reader.text("PORTAL_LOCALE", None),
            log_level=reader.text("LOG_LEVEL", "INFO").upper(),
            metrics_token=reader.text("METRICS_TOKEN", None),
            worker_metrics_port=reader.integer("WORKER_METRICS_PORT", 0),
            trusted_proxy_hops=reader.integer("TRUSTED_PROXY_HOPS", 0),
            client_idle_timeout_seconds=reader.number("CLIENT_IDLE_TIMEOUT_SECONDS", 10.0),
            password_hash_profile=reader.text("PASSWORD_HASH_PROFILE", "production"),
            auth_modes=_auth_modes(reader),
            handoff_secrets=reader.csv("HANDOFF_SECRET"),
            stripe_fetch_mode=reader.text("STRIPE_FETCH_MODE", "ties"),
            stripe_rate_limit=reader.integer("STRIPE_RATE_LIMIT", 0),
            host_webhook_url=reader.text("HOST_WEBHOOK_URL", None),
            host_webhook_secret=reader.text("HOST_WEBHOOK_SECRET", None),
            host_webhook_timeout_seconds=reader.number("HOST_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            host_webhook_retry_schedule=_retry_schedule(reader),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that would be unsafe to run with."""
        if self.stripe_api_base and self.stripe_secret_key.startswith(LIVE_KEY_PREFIXES):
            raise ConfigError(
                "STRIPE_API_BASE is set while STRIPE_SECRET_KEY is a live key: "
                "refusing to send a live key anywhere but Stripe"
            )
        if self.app_env not in ("production", "development", "test"):
            raise ConfigError("APP_ENV must be production, development or test")
        if not self.is_development and len(self.secret_key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters outside development")
        if not self.client_idle_timeout_seconds > 0:
            raise ConfigError("CLIENT_IDLE_TIMEOUT_SECONDS must be more than 0")
        if not 0 <= self.trusted_proxy_hops <= 5:
            raise ConfigError("TRUSTED_PROXY_HOPS must be between 0 and 5 (the proxies in front of the web)")
        if self.worker_stall_seconds < 1:
            raise ConfigError("WORKER_STALL_SECONDS must be at least 1")
        if self.stripe_fetch_mode not in FETCH_MODES:
            raise ConfigError("STRIPE_FETCH_MODE must be ties or always")
        if not 0 <= self.stripe_rate_limit <= 10_000:
            raise ConfigError("STRIPE_RATE_LIMIT must be a whole number of requests per second from 1 to 10000")
        if self.access_cache_size < 0:
            raise ConfigError("ACCESS_CACHE_SIZE must be 0 (off) or more users per web process")
        self._check_password_hash_profile()
        self._check_auth_modes()
        self._check_host_webhook()

    def _check_password_hash_profile(self) -> None:
        # Cheap hashes make the suite fast; in production they would make stolen hashes cheap to crack.
        if self.password_hash_profile not in ("production", "test"):
            raise ConfigError("PASSWORD_HASH_PROFILE must be production or test")
        if self.password_hash_profile == "test" and not self.is_development:
            raise ConfigError("PASSWORD_HASH_PROFILE=test is refused unless APP_ENV is test or development")

    def _check_auth_modes(self) -> None:
        unknown = [mode for mode in self.auth_modes if mode not in AUTH_MODES]
        if unknown:
            raise ConfigError(f"AUTH_MODES must be one or more of local,handoff (comma-separated), got {unknown}")
        # Only an AUTH_MODES that names handoff demands a secret: with the default, a deployment
        # that never set one keeps running, and /auth/handoff answers 404.
        if "handoff" in self.auth_modes and not self.handoff_secrets and not self.is_development:
            raise ConfigError("AUTH_MODES includes handoff but HANDOFF_SECRET is not set (or set AUTH_MODES=local)")
        if not self.is_development and any(len(secret) < 32 for secret in self.handoff_secrets):
            raise ConfigError("HANDOFF_SECRET: each secret must be at least 32 characters outside development")

    def _check_host_webhook(self) -> None:
        if not self.host_webhook_url:
            return
        if not self.host_webhook_url.startswith(("https://", "http://")):
            raise ConfigError("HOST_WEBHOOK_URL must be an http:// or https:// URL")
        secret = self.host_webhook_secret or ""
        if not secret.startswith("whsec_") or not _is_base64(secret[len("whsec_") :]):
            raise ConfigError(
                "HOST_WEBHOOK_SECRET must be set, as whsec_ and base64 (Standard Webhooks), with HOST_WEBHOOK_URL"
            )
        if not self.host_webhook_timeout_seconds > 0:
            raise ConfigError("HOST_WEBHOOK_TIMEOUT_SECONDS must be more than 0")


def _is_base64(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) >= 16
    except ValueError:
        return False


def _retry_schedule(reader: _Reader) -> tuple[int, ...]:
    raw = reader.csv("HOST_WEBHOOK_RETRY_SCHEDULE")
    if not raw:
        return HOST_WEBHOOK_RETRY_SCHEDULE
    try:
        schedule = tuple(int(part) for part in raw)
    except ValueError:
        schedule = ()
    if not schedule or any(delay < 0 for delay in schedule):
        raise ConfigError("HOST_WEBHOOK_RETRY_SCHEDULE must be whole seconds, comma-separated, e.g. 5,30,120")
    return schedule


def _auth_modes(reader: _Reader) -> tuple[str, ...]:
    modes = reader.csv("AUTH_MODES")
    if reader.text("AUTH_MODES", None) is not None and not modes:
        raise ConfigError("AUTH_MODES must name at least one of local,handoff")
    return modes


class _Reader:
    """Typed access to an environment mapping; every error names the variable."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    @overload
    def text(self, name: str, default: str) -> str: ...
    @overload
    def text(self, name: str, default: None) -> str | None: ...
    def text(self, name: str, default: str | None) -> str | None:
        value = self.env.get(name, "").strip()
        return value or default

    def required(self, name: str) -> str:
        value = self.text(name, None)
        if value is None:
            raise ConfigError(f"{name} is required but not set (see .env.example and the README's Configuration table)")
        return value

    def csv(self, name: str, required: bool = False) -> tuple[str, ...]:
        raw = self.required(name) if required else self.text(name, "")
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def integer(self, name: str, default: int) -> int:
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None

    def number(self, name: str, default: float) -> float:
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
