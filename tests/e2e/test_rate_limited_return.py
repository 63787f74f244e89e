"""Paying under a tight Stripe rate limit: the billing page reaches Active by itself, and /metrics says what it cost.

gunicorn (two workers) + the worker + the sandbox as processes. Our limiter
(STRIPE_RATE_LIMIT) is set above the sandbox's own limit, so the callers both
wait for the limiter and get real 429s from "Stripe"; the web's and the
worker's /metrics must count exactly the 429s the sandbox answered.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from shared.infra.db import database, init_database
from shared.infra.models import StripeEvent
from tests.browser_helpers import start_sandbox
from tests.e2e.test_run_command import CSRF, REFRESH, Browser, follow_refreshes
from tests.processes import run_cli, service_env, start_web, start_worker
from tests.services import free_port, wait_for
from tests.settings_helpers import make_settings

OUR_LIMIT = 3  # requests a second, for the web and the worker together
SANDBOX_LIMIT = 2  # "Stripe" refuses more than this: our limit lets some 429s through


@pytest.fixture(params=["snapshot", "thin"])
def stack(request, db_url, redis_url, redis_conn, tmp_path):
    """Sandbox, gunicorn and a worker with its metrics port; yields the web, sandbox and worker-metrics URLs."""
    web_port, sandbox_port, metrics_port = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    settings = make_settings(db_url, redis_url, stripe_api_base=f"http://127.0.0.1:{sandbox_port}", app_base_url=url)
    env = service_env(settings, STRIPE_RATE_LIMIT=OUR_LIMIT)
    assert run_cli(env, "db", "upgrade").returncode == 0
    processes = []
    try:
        sandbox, sandbox_url = start_sandbox(
            env, tmp_path, sandbox_port, url, style=request.param, rate_limit=SANDBOX_LIMIT
        )
        processes.append(sandbox)
        processes.append(
            start_web({**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}, tmp_path, port=web_port)[0]
        )
        processes.append(start_worker({**env, "WORKER_METRICS_PORT": str(metrics_port)}, tmp_path))
        init_database(db_url)
        database.connect(reuse_if_open=True)
        yield url, sandbox_url, f"http://127.0.0.1:{metrics_port}"
    finally:
        database.close()
        for process in reversed(processes):
            process.stop()


def scrape(base: str) -> dict[str, float]:
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("portal_stripe_"))
    return {name: float(value) for name, value in pairs}


def sandbox_state(sandbox_url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(sandbox_url + "/_sandbox/" + path, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    return json.loads(urllib.request.urlopen(request, timeout=40).read())


def test_after_paying_the_page_says_active_by_itself_under_a_tight_rate_limit(stack):
    url, sandbox_url, worker_metrics = stack
    browser = Browser()
    token = CSRF.search(browser.get(url + "/register")).group(1)
    fields = {"email": "limited@example.com", "password": "correct horse battery", "csrf_token": token}
    assert browser.post_form(url + "/register", fields)[0] == 302
    token = CSRF.search(browser.get(url + "/dashboard/billing")).group(1)  # cold: the plans read from Stripe
    status, checkout_url = browser.post_form(url + "/api/billing/checkout", {"price": "pro", "csrf_token": token})
    assert status == 303
    status, back = browser.post_form(checkout_url, {"card": "4242 4242 4242 4242", "action": "pay"})
    assert status == 303 and "/dashboard/billing?session_id=" in back

    # The page's own refreshes only, racing the worker for the same limit: no reload by hand.
    page = follow_refreshes(browser, url, back)
    assert not REFRESH.search(page)
    assert 'id="status"><span class="status status-active">Active<' in page and "Access granted" in page

    assert sandbox_state(sandbox_url, "deliveries/wait", {"timeout": 30})
    wait_for(
        lambda: StripeEvent.select().where(StripeEvent.type.endswith("checkout.session.completed")).exists(),
        timeout=60,
        what="the worker to take the checkout's events",
    )
    plain = browser.get(url + "/dashboard/billing")  # the database alone, after every webhook
    assert "status-active" in plain and "Access granted" in plain

    web, worker = scrape(url), scrape(worker_metrics)
    throttled = sandbox_state(sandbox_url, "rate_limit")["throttled"]
    assert throttled > 0  # the journey did run into Stripe's limit
    assert web["portal_stripe_rate_limited_total"] + worker["portal_stripe_rate_limited_total"] == throttled
    assert web["portal_stripe_limiter_wait_seconds_count"] > 0 and web["portal_stripe_limiter_wait_seconds_sum"] > 0
    assert "portal_stripe_limiter_wait_seconds_count" in worker  # the worker's own, on its own port
