"""Button latency: what "Manage Billing" and "Subscribe" cost, click by click.

A signed-in user (a real session and CSRF token, through the /register form)
posts the billing page's forms, one click at a time, to real gunicorn whose
Stripe is the project's sandbox, run as its own process with no added
latency: ``POST /api/billing/portal`` and ``POST /api/billing/checkout``
(303 to Stripe's page). Beside them, in the same rounds: the bare Flask
route on the same path (HTTP and Flask alone), and the same Stripe call made
directly with stripe-python from the benchmark (the sandbox alone). What the
service itself adds to a click is the rest: service - bare - direct. The
service's Stripe rate limit is raised for the run (see run_buttons).
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import stripe

from bench.apply import fresh_database
from bench.procs import Gunicorn, service_env
from bench.thin_burst import Sandbox
from devrun.redis_server import LocalRedis as RedisServer
from devrun.redis_server import free_port
from shared.infra.db import database
from shared.infra.models import User

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
EMAIL, PASSWORD = "clicker@example.com", "correct horse battery staple"


@dataclass(frozen=True)
class ButtonPlan:
    clicks: int = 400  # per target
    rounds: int = 4  # the targets take turns, so drift hits all alike
    backend: str = "sqlite"


QUICK = ButtonPlan(clicks=20, rounds=2)


class Browser:
    """One signed-in user: cookies kept by hand (the production session cookie is Secure; this is http)."""

    def __init__(self, base: str):
        self.base, self.http = base, requests.Session()
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, data: dict | None = None) -> requests.Response:
        response = self.http.request(
            method, self.base + path, data=data, headers=self._cookie_header(), allow_redirects=False, timeout=30
        )
        self.cookies.update({c.name: c.value or "" for c in response.cookies})
        self.http.cookies.clear()
        return response

    def _cookie_header(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def token(self, path: str) -> str:
        match = CSRF_FIELD.search(self.send("GET", path).text)
        if not match:
            raise RuntimeError(f"no CSRF token on {path}")
        return match.group(1)

    def register(self) -> None:
        answer = self.send(
            "POST", "/register", {"email": EMAIL, "password": PASSWORD, "csrf_token": self.token("/register")}
        )
        if answer.status_code != 302:
            raise RuntimeError(f"could not register: {answer.status_code} {answer.text[:300]}")


def timed(click) -> float:
    started = time.perf_counter()
    click()
    return time.perf_counter() - started


def expect(response: requests.Response, status: int = 303) -> None:
    if response.status_code != status:
        raise RuntimeError(f"a click answered {response.status_code}: {response.text[:300]}")


def clicks(service: Browser, bare: Browser, direct: stripe.StripeClient, customer: str, token: str) -> dict:
    """One click of each kind, as a callable per target."""
    form = {"csrf_token": token}
    price = direct.v1.prices.list(params={"lookup_keys": ["basic"]}).data[0].id
    portal_params: dict = {"customer": customer, "return_url": "http://127.0.0.1/billing"}
    checkout_params: dict = {
        "mode": "subscription",
        "line_items": [{"price": price, "quantity": 1}],
        "customer": customer,
        "success_url": "http://127.0.0.1/billing",
        "cancel_url": "http://127.0.0.1/billing",
    }
    return {
        "bare": lambda: expect(bare.send("POST", "/api/billing/portal", form)),
        "portal": lambda: expect(service.send("POST", "/api/billing/portal", form)),
        "checkout": lambda: expect(service.send("POST", "/api/billing/checkout", {**form, "price": "basic"})),
        "direct_portal": lambda: direct.v1.billing_portal.sessions.create(params=portal_params),  # type: ignore[arg-type]
        "direct_checkout": lambda: direct.v1.checkout.sessions.create(params=checkout_params),  # type: ignore[arg-type]
    }


def summary(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {
        "clicks": len(ordered),
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
    }


def measure(targets: dict, plan: ButtonPlan) -> dict:
    for click in targets.values():  # warm-up: the plan catalog, first connections
        for _ in range(5):
            click()
    times: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for n in range(plan.rounds):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            times[name] += [timed(targets[name]) for _ in range(plan.clicks // plan.rounds)]
    report = {name: summary(seconds) for name, seconds in times.items()}
    for kind in ("portal", "checkout"):
        own = report[kind]["p50_ms"] - report["bare"]["p50_ms"] - report[f"direct_{kind}"]["p50_ms"]
        report[f"{kind}_own_p50_ms"] = round(own, 2)
    return report


def run_buttons(workdir: Path, plan: ButtonPlan) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(workdir / "redis-buttons").start()
    sandbox = Sandbox(workdir, rate=None)
    servers: list[Gunicorn] = []
    try:
        with fresh_database(plan.backend, workdir, "buttons") as url:
            env = service_env(
                DATABASE_URL=url,
                REDIS_URL=redis_server.url,
                STRIPE_API_BASE=sandbox.url,
                STRIPE_WEBHOOK_SECRET="whsec_bench_buttons",
                BILLING_PLANS="basic",
                # Clicks come back to back here, far above the 12/s a test key is held to: a limiter
                # wait is not the cost of a click (its Redis round trip, paid on every call, still is).
                STRIPE_RATE_LIMIT=1000,
                LOG_LEVEL="WARNING",
                PROMETHEUS_MULTIPROC_DIR=workdir / "prometheus-buttons",
            )
            servers = [
                Gunicorn(spec, free_port(), 2, env, workdir / f"gunicorn-buttons-{name}.log").start()
                for name, spec in (("service", "portal_service:create_app()"), ("bare", "bench.bare_app:app"))
            ]
            service, bare = (Browser(f"http://127.0.0.1:{server.port}") for server in servers)
            service.register()
            customer = sandbox.control("POST", "/_sandbox/subscriptions", {"customer_email": EMAIL, "price": "basic"})
            customer_id = customer["subscription"]["customer"]
            with database.connection_context():  # as the checkout's webhook would have linked it
                User.update(stripe_customer_id=customer_id).where(User.email == EMAIL).execute()
            direct = stripe.StripeClient("sk_test_bench", base_addresses={"api": sandbox.url})
            report = measure(clicks(service, bare, direct, customer_id, service.token("/billing")), plan)
    finally:
        for server in servers:
            server.stop()
        sandbox.process.terminate()
        sandbox.process.wait()
        redis_server.stop()
    return {"plan": plan.__dict__, **report}
