"""Sandbox time: real time plus an offset that tests can move forward."""

import threading
import time


class Clock:
    """Whole-second sandbox time, like Stripe's ``created`` fields."""

    def __init__(self) -> None:
        self._offset = 0
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return int(time.time()) + self._offset

    @property
    def offset(self) -> int:
        return self._offset

    def advance(self, seconds: int) -> int:
        """Move sandbox time forward; returns the new now."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += int(seconds)
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0
