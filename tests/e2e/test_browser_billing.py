"""A customer's whole billing journey in a real browser, against the real service.

gunicorn + the worker + Redis + the sandbox as a subprocess (webhooks signed and
posted to gunicorn), driven by Playwright in Debian's chromium. A screenshot of
the billing page is taken in each state; UPDATE_SCREENSHOTS=1 writes them to
docs/screenshots/ as well.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from shared.infra.db import database, init_database
from shared.infra.models import StripeEvent, Subscription, User
from tests.browser_helpers import Shots, require_chromium, start_sandbox
from tests.processes import run_cli, service_env, start_web, start_worker
from tests.services import free_port, wait_for
from tests.settings_helpers import make_settings

PASSWORD = "correct horse battery"


@pytest.fixture(params=["snapshot", "thin"])
def stack(request, redis_url, redis_conn, tmp_path):
    """Sandbox, gunicorn and worker wired to each other, by snapshot events or thin ones; yields the URLs."""
    require_chromium()
    web_port, sandbox_port = free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    db_url = f"sqlite:///{tmp_path / 'portal.db'}"
    settings = make_settings(db_url, redis_url, stripe_api_base=sandbox_url, app_base_url=url)
    env = service_env(settings)
    assert run_cli(env, "db", "upgrade").returncode == 0
    processes = []
    try:
        sandbox, _ = start_sandbox(env, tmp_path, sandbox_port, url, style=request.param)
        processes.append(sandbox)
        web, _ = start_web(env, tmp_path, port=web_port)
        processes.append(web)
        processes.append(start_worker(env, tmp_path))
        init_database(db_url)
        database.connect(reuse_if_open=True)
        yield url, sandbox_url
    finally:
        database.close()
        for process in reversed(processes):
            process.stop()


def wait_for_webhooks(sandbox_url: str) -> None:
    request = urllib.request.Request(
        sandbox_url + "/_sandbox/deliveries/wait",
        method="POST",
        data=json.dumps({"timeout": 20}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert urllib.request.urlopen(request, timeout=30).status == 200


def test_a_customer_subscribes_cancels_reactivates_and_switches_plan(stack, browser, tmp_path):
    from playwright.sync_api import expect

    url, sandbox_url = stack
    page = browser.new_page(viewport={"width": 900, "height": 760})
    page.set_default_timeout(20_000)
    expect.set_options(timeout=15_000)  # a loaded CI machine is slower than a laptop
    blocked = []  # anything our Content-Security-Policy refused: it must refuse nothing of ours
    page.on("console", lambda message: "Content Security Policy" in message.text and blocked.append(message.text))
    shots = Shots(page, tmp_path / "screenshots")
    status = page.locator("#status")
    plan = page.locator("#plan-name")

    # Register: straight to the billing page, with the plans on offer.
    page.goto(url + "/register")
    page.fill("input[name=email]", "journey@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Create account')")
    page.wait_for_url(url + "/dashboard/billing")
    expect(status).to_have_text("You have no subscription yet.")
    expect(page.get_by_role("button", name="Subscribe to Pro")).to_be_visible()
    expect(page.get_by_role("button", name="Subscribe to Pro")).to_have_css("background-color", "rgb(99, 91, 255)")
    shots.take("01-no-subscription")

    # Subscribe: the clicked button shows it is working. The test holds the
    # submission (a listener of its own cancels it) to look, then lets it go.
    page.evaluate("""() => document.querySelectorAll('form[data-opens]').forEach(form =>
        form.addEventListener('submit', event => { window.heldForm = form; event.preventDefault(); }))""")
    page.get_by_role("button", name="Subscribe to Basic").click()
    busy = page.locator("button[aria-busy=true]")
    expect(busy).to_have_text("Opening…")
    expect(busy).to_be_disabled()
    shots.take("02-opening")
    page.evaluate("() => window.heldForm.submit()")
    page.wait_for_url(re.compile(re.escape(sandbox_url) + r"/c/pay/cs_"))
    expect(page.get_by_text("Test sandbox — not Stripe").first).to_be_visible()
    page.click("button:has-text('Pay with test card 4242')")
    page.wait_for_url(re.compile(re.escape(url) + r"/dashboard/billing\?session_id=cs_"))
    expect(status).to_have_text("Active")  # by itself, however late the worker is: no reload
    expect(plan).to_have_text("Basic — $9.00 per month")
    expect(page.locator("#access")).to_have_text("Access granted")
    expect(page.get_by_text(re.compile(r"Renews on \d+ \w+ \d{4}"))).to_be_visible()
    shots.take("03-active")

    # Manage Billing: cancel at period end in the portal, come back.
    page.get_by_role("button", name="Manage Billing").click()
    page.wait_for_url(re.compile(re.escape(sandbox_url) + r"/p/session/bps_"))
    page.click("button:has-text('Cancel plan')")
    expect(page.get_by_text("Cancels")).to_be_visible()
    page.click("a:has-text('Return to')")
    page.wait_for_url(url + "/dashboard/billing?from=portal")
    expect(status).to_have_text("Active, cancellation scheduled")
    expect(page.get_by_text(re.compile(r"Cancels on \d+ \w+ \d{4}"))).to_be_visible()
    expect(page.get_by_role("button", name="Cancel subscription")).to_have_count(0)
    shots.take("04-cancels-on")

    # Reactivate in the portal.
    page.get_by_role("button", name="Manage Billing").click()
    page.click("button:has-text('Renew plan')")
    page.click("a:has-text('Return to')")
    expect(status).to_have_text("Active", timeout=15_000)  # may take one self-refresh to settle
    expect(page.get_by_text(re.compile(r"Renews on"))).to_be_visible()
    shots.settle()  # looks as 03-active does: no screenshot of its own

    # Deep link: Change plan, Basic -> Pro; the flow sends the browser straight back.
    page.get_by_role("button", name="Change plan").click()
    page.wait_for_url(re.compile(re.escape(sandbox_url) + r"/p/session/bps_"))
    page.select_option("select[name=price]", "price_sbx_pro")
    page.click("button:has-text('Update plan')")
    page.wait_for_url(re.compile(re.escape(url) + r"/dashboard/billing\?from=portal"))
    expect(plan).to_have_text("Pro — $29.00 per month", timeout=15_000)
    shots.take("05-switched-to-pro")

    # Deep link: Update card.
    page.get_by_role("button", name="Update card").click()
    page.wait_for_url(re.compile(re.escape(sandbox_url) + r"/p/session/bps_"))
    expect(page.locator("select[name=price]")).to_have_count(0)  # only the card section
    page.fill("input[name=card]", "4242 4242 4242 4242")
    page.click("button:has-text('Update card')")
    page.wait_for_url(re.compile(re.escape(url) + r"/dashboard/billing\?from=portal"))
    expect(status).to_have_text("Active", timeout=15_000)

    # Deep link: Cancel subscription.
    page.get_by_role("button", name="Cancel subscription").click()
    page.wait_for_url(re.compile(re.escape(sandbox_url) + r"/p/session/bps_"))
    page.click("button:has-text('Cancel plan')")
    page.wait_for_url(re.compile(re.escape(url) + r"/dashboard/billing\?from=portal"))
    expect(status).to_have_text("Active, cancellation scheduled", timeout=15_000)
    expect(page.get_by_text(re.compile(r"Cancels on"))).to_be_visible()
    shots.take("06-cancelled-by-deep-link")

    # The webhooks reached the worker too, and agree with what the page showed.
    wait_for_webhooks(sandbox_url)
    user = User.get(User.email == "journey@example.com")
    wait_for(
        lambda: StripeEvent.select().where(StripeEvent.type.endswith("checkout.session.completed")).count() == 1,
        timeout=30,
        what="the checkout webhook applied",
    )
    sub = Subscription.get(Subscription.customer_id == user.stripe_customer_id)
    wait_for(
        lambda: Subscription.get_by_id(sub.id).cancel_at_period_end, timeout=30, what="the cancellation webhook applied"
    )
    final = Subscription.get_by_id(sub.id)
    assert final.price_id == "price_sbx_pro" and final.status == "active"

    # Signed out, the page sends the browser to sign in and back.
    page.get_by_role("button", name="Sign out").click()
    page.goto(url + "/dashboard/billing")
    page.wait_for_url(re.compile(re.escape(url) + r"/login\?next=/dashboard/billing"))
    shots.take("07-signed-out")

    # Guessing the password: refused for a while, with a clear message.
    for _ in range(6):
        page.fill("input[name=email]", "journey@example.com")
        page.fill("input[name=password]", "not the password")
        page.click("button:has-text('Sign in')")
    expect(page.get_by_role("alert")).to_have_text("Too many failed sign-in attempts. Try again in 30 seconds.")
    shots.take("08-sign-in-throttled")
    assert blocked == []
