"""Polling for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time


def wait_for(check, timeout: float = 15.0, what: str = "condition", interval: float = 0.05):
    """``check()``'s first truthy result; errors count as "not yet" until ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the service is not up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what} (last error: {last_error})")
