"""The example host app's whole journey in a real browser: Acme Notes, the service, the sandbox.

gunicorn (service and host app), the worker (which applies Stripe's webhooks and delivers the
notifications to the host app), Redis and the sandbox, driven by Playwright in Debian's Chromium.
The host app holds access answers for an hour, so only a notification can open or lock its
Pro page; the test reloads that page and nothing else. Screenshots as in test_browser_billing.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser_helpers import Shots, reload_until, require_chromium, start_sandbox
from tests.host_app_helpers import HANDOFF_SECRET, HOST_WEBHOOK_SECRET, start_host_app
from tests.processes import ROOT, run_cli, service_env, start_web, start_worker
from tests.services import free_port
from tests.settings_helpers import make_settings

DEMO = ("ada@acme.example", "acme-notes-demo")


@pytest.fixture
def stack(redis_url, redis_conn, tmp_path):
    """Sandbox, service, worker and host app wired to each other: (service URL, host app URL)."""
    require_chromium()
    web_port, sandbox_port, host_port = free_port(), free_port(), free_port()
    url, host_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{host_port}"
    settings = make_settings(
        f"sqlite:///{tmp_path / 'portal.db'}",
        redis_url,
        stripe_api_base=f"http://127.0.0.1:{sandbox_port}",
        app_base_url=url,
    )
    env = service_env(
        settings,
        HANDOFF_SECRET=HANDOFF_SECRET,
        HOST_WEBHOOK_URL=f"{host_url}/hooks/billing",
        HOST_WEBHOOK_SECRET=HOST_WEBHOOK_SECRET,
    )
    assert run_cli(env, "db", "upgrade").returncode == 0
    created = run_cli(env, "api-key", "create", "--name", "Acme Notes", "--scope", "write", "--json")
    processes = []
    try:
        processes.append(start_sandbox(env, tmp_path, sandbox_port, url)[0])
        cancel_immediately_in_the_portal(env, tmp_path)
        processes.append(start_web(env, tmp_path, port=web_port)[0])
        processes.append(start_worker(env, tmp_path))
        key = json.loads(created.stdout)["key"]
        processes.append(start_host_app(tmp_path, host_port, url, key, ACCESS_CACHE_SECONDS=3600)[0])
        yield url, host_url
    finally:
        for process in reversed(processes):
            process.stop()


def cancel_immediately_in_the_portal(env: dict, folder) -> None:
    """The documented portal configuration, with cancellation taking effect at once."""
    example = (ROOT / "docs" / "portal.example.toml").read_text()
    assert 'mode = "at_period_end"' in example
    path = folder / "portal.toml"
    path.write_text(example.replace('mode = "at_period_end"', 'mode = "immediately"'))
    applied = run_cli(env, "portal-config", "apply", str(path))
    assert applied.returncode == 0, applied.stderr


def test_acme_notes_unlocks_pro_when_paid_and_locks_it_when_cancelled(stack, browser, tmp_path):
    from playwright.sync_api import expect

    url, host_url = stack
    page = browser.new_page(viewport={"width": 900, "height": 760})
    page.set_default_timeout(20_000)
    expect.set_options(timeout=15_000)
    shots = Shots(page, tmp_path / "screenshots")
    gate, source = page.locator("#gate"), page.locator("#source")

    # Sign in to the host app: its Pro notes are locked.
    page.goto(host_url + "/login")
    page.fill("input[name=email]", DEMO[0])
    page.fill("input[name=password]", DEMO[1])
    page.click("button:has-text('Sign in')")
    page.wait_for_url(host_url + "/")
    page.click("a:has-text('Pro notes')")
    expect(gate).to_contain_text("Locked")
    shots.take("host-01-locked")

    # Billing: handed off to the service, signed in there; subscribe on the sandbox's Checkout.
    page.click("header a:has-text('Billing')")
    page.wait_for_url(url + "/dashboard/billing")
    expect(page.locator("#status")).to_have_text("You have no subscription yet.")
    expect(page.get_by_text(DEMO[0])).to_be_visible()
    page.get_by_role("button", name="Subscribe to Basic").click()
    page.click("button:has-text('Pay with test card 4242')")
    page.wait_for_url(re.compile(re.escape(url) + r"/dashboard/billing\?session_id=cs_"))
    expect(page.locator("#status")).to_have_text("Active")  # by itself, however late the worker is

    # Back in the host app: the notification opens Pro notes.
    page.goto(host_url + "/pro")
    reload_until(page, "Unlocked", "the notification that the user paid")
    expect(source).to_contain_text("notified at")
    expect(page.locator("#has-access")).to_have_text("granted")
    shots.take("host-02-unlocked")

    # Cancel at once in the sandbox's portal: the notification locks Pro notes again.
    page.click("header a:has-text('Billing')")
    page.get_by_role("button", name="Manage Billing").click()
    page.click("button:has-text('Cancel now')")
    expect(page.get_by_text("Ended")).to_be_visible()
    page.goto(host_url + "/pro")
    reload_until(page, "Locked", "the notification that the subscription ended")
    expect(source).to_contain_text("notified at")
    expect(page.locator("#has-access")).to_have_text("none")
    shots.take("host-03-locked-again")
