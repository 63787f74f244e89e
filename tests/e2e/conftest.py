"""Fixtures of the browser tests."""

from __future__ import annotations

import pytest

from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, require_chromium


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
