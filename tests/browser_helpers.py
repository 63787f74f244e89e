"""Browser tests: Debian's Chromium driven by Playwright, the sandbox as a process, screenshots.

A screenshot is written to the test's own folder; UPDATE_SCREENSHOTS=1 copies it to
docs/screenshots/ as well.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
from pathlib import Path

from tests.processes import ROOT, Process
from tests.services import require_program, wait_for
from tests.settings_helpers import WEBHOOK_SECRET

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium():
    require_program(CHROMIUM, f"{CHROMIUM} is missing: apt-get install -y chromium")


def start_sandbox(
    env: dict, log_dir: Path, port: int, web_url: str, style: str = "snapshot", rate_limit: int | None = None
) -> tuple[Process, str]:
    """The Stripe sandbox as a process, signing its webhooks (snapshot or thin) to ``web_url`` (retried quickly);
    with ``rate_limit``, answering 429 above that many API requests a second, as Stripe does."""
    destination = "--thin-webhook-url" if style == "thin" else "--webhook-url"
    args = [sys.executable, "-m", "stripe_sandbox", "--port", str(port), destination]
    args += [f"{web_url}/api/webhooks/stripe", "--webhook-secret", WEBHOOK_SECRET, "--retry-delays", "0.2,0.5,1,2"]
    args += ["--rate-limit", str(rate_limit)] if rate_limit else []
    sandbox = Process("sandbox", args, env, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: urllib.request.urlopen(url + "/_sandbox", timeout=2).status == 200, timeout=30, what="the sandbox")
    return sandbox, url


class Shots:
    def __init__(self, page, folder: Path):
        self.page = page
        self.folders = [folder]
        if os.environ.get("UPDATE_SCREENSHOTS"):
            self.folders.append(ROOT / "docs" / "screenshots")
        for path in self.folders:
            path.mkdir(parents=True, exist_ok=True)

    def settle(self) -> None:
        settling = self.page.get_by_text("Bringing your billing up to date")
        settling.wait_for(state="detached", timeout=20_000)  # the page refreshed itself until settled

    def take(self, name: str) -> None:
        self.settle()
        first = self.folders[0] / f"{name}.png"
        self.page.screenshot(path=str(first), full_page=True)
        for folder in self.folders[1:]:
            shutil.copyfile(first, folder / f"{name}.png")


def reload_until(page, text: str, what: str) -> None:
    """Reload the host app's page (and only it) until its gate says ``text``: the notification has arrived."""

    def shows_it():
        page.reload()
        return text in page.locator("#gate").inner_text()

    wait_for(shows_it, timeout=60, interval=0.5, what=what)
