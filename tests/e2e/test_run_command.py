"""The README's first command, from a clean clone: start, sign in, subscribe, stop.

No Stripe account, no Redis, no database prepared: the command must bring
everything it needs, and leave no process behind when stopped.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT
from tests.services import free_port, wait_for

BANNER = re.compile(r"Billing portal running: (http://\S+)")
HOST_BANNER = re.compile(r"Example host app \(Acme Notes\): (http://\S+)\n  Sign in there as (\S+) / (\S+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
STRIPPED = (
    "REDIS_URL",
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET",
    "SECRET_KEY",
    "APP_BASE_URL",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "TEST_DATABASE_URL",
)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Just enough of a browser: cookies and forms (a form post's redirect is not followed)."""

    def __init__(self):
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)
        self.poster = urllib.request.build_opener(cookies, NoRedirect())
        for opener in (self.opener, self.poster):
            opener.addheaders = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")]

    def get(self, url: str) -> str:
        with self.opener.open(url, timeout=10) as response:
            return response.read().decode()

    def post_form(self, url: str, fields: dict) -> tuple[int, str | None]:
        """Post a form; the status and where it redirects (not followed)."""
        data = urllib.parse.urlencode(fields).encode()
        try:
            with self.poster.open(url, data=data, timeout=10) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location")

    def status_and_page(self, url: str) -> tuple[int, str]:
        """A page that may be an error page (a locked page is a 403)."""
        try:
            with self.opener.open(url, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def json(self, url: str) -> dict:
        return json.loads(self.get(url))


def clean_clone(tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def processes_running_from(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout to clone")
def test_first_command_runs_everything_from_a_clean_clone(tmp_path):
    clone = clean_clone(tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in STRIPPED}
    port, sandbox_port, host_port = free_port(), free_port(), free_port()
    log = open(tmp_path / "run.log", "w+")  # noqa: SIM115 - the runner writes it; read back at the end
    ports = ["--port", str(port), "--sandbox-port", str(sandbox_port), "--host-app-port", str(host_port)]
    runner = subprocess.Popen(
        ["scripts/run", *ports],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = wait_for(
            lambda: _banner_url(tmp_path / "run.log"),
            timeout=600,
            interval=0.5,
            what="the run command to print its URL",
        )
        browser = Browser()
        wait_for(lambda: "Sign in" in browser.get(url + "login"), timeout=60, what="the web process")
        token = CSRF.search(browser.get(url + "login")).group(1)
        signed_in, _ = browser.post_form(
            url + "login", {"email": "demo@example.com", "password": "demo-password", "csrf_token": token}
        )
        assert signed_in == 302
        assert browser.json(url + "api/billing/status")["has_access"] is False

        # Subscribe the way the billing page's button does, then pay on the sandbox's hosted page.
        token = CSRF.search(browser.get(url + "dashboard/billing")).group(1)
        status, checkout_url = browser.post_form(url + "api/billing/checkout", {"price": "basic", "csrf_token": token})
        assert status == 303 and checkout_url.startswith(f"http://127.0.0.1:{sandbox_port}/")
        assert "Test sandbox" in browser.get(checkout_url)
        status, back = browser.post_form(checkout_url, {"card": "4242 4242 4242 4242", "action": "pay"})
        assert status == 303 and back.startswith(url + "dashboard/billing?session_id=")
        assert "Active" in follow_refreshes(browser, url, back)  # up to date on return, webhook or not

        status = wait_for(
            lambda: _active(browser.json(url + "api/billing/status")),
            timeout=60,
            what="the subscription in the database",
        )
        assert status["subscription"]["price_id"] == "price_sbx_basic"
        host_app_journey(tmp_path / "run.log", url)
    finally:
        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = runner.wait(60)
        log.seek(0)
        output = log.read()
    assert code in (0, -signal.SIGINT, 130), output
    leftovers = (
        wait_for(lambda: not processes_running_from(clone) or None, timeout=30, what="no leftovers")
        if processes_running_from(clone)
        else None
    )
    assert not processes_running_from(clone), leftovers


def host_app_journey(log_path: Path, service_url: str) -> None:
    """The example host app, wired to the service: locked, Billing, paid, unlocked by the notification."""
    host_url, email, password = HOST_BANNER.search(log_path.read_text(errors="replace")).groups()
    browser = Browser()
    wait_for(lambda: "Sign in to Acme Notes" in browser.get(host_url + "login"), timeout=60, what="the host app")
    token = CSRF.search(browser.get(host_url + "login")).group(1)
    status, _ = browser.post_form(host_url + "login", {"email": email, "password": password, "csrf_token": token})
    assert status == 302
    status, page = browser.status_and_page(host_url + "pro")
    assert status == 403 and "Locked" in page  # asked the service with the key scripts/run made
    landed = browser.get(host_url + "billing")  # provisioned, handed off, redirected to the billing page
    assert email in landed and "You have no subscription yet." in landed, landed

    token = CSRF.search(landed).group(1)
    status, checkout_url = browser.post_form(
        service_url + "api/billing/checkout", {"price": "pro", "csrf_token": token}
    )
    assert status == 303
    status, _ = browser.post_form(checkout_url, {"card": "4242 4242 4242 4242", "action": "pay"})
    assert status == 303
    status, page = wait_for(
        lambda: (found := browser.status_and_page(host_url + "pro"))[0] == 200 and found,
        timeout=60,
        what="the notification to open Pro notes",
    )
    assert 'id="source">notified at' in page


REFRESH = re.compile(r'<meta http-equiv="refresh" content="(\d+);url=([^"]+)">')


def follow_refreshes(browser: Browser, base: str, page_url: str, most: int = 5) -> str:
    """The page as a browser ends up showing it, following its own meta refreshes."""
    page = browser.get(page_url)
    for _ in range(most):
        found = REFRESH.search(page)
        if not found:
            return page
        time.sleep(int(found.group(1)))
        page = browser.get(urllib.parse.urljoin(base, found.group(2).replace("&amp;", "&")))
    return page


def _banner_url(log_path: Path):
    found = BANNER.search(log_path.read_text(errors="replace"))
    return found.group(1) if found else None


def _active(status: dict):
    sub = status.get("subscription")
    return status if status["has_access"] and sub and sub["status"] == "active" else None
