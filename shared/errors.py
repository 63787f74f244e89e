"""Domain errors shared by both processes; views and jobs translate them."""


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the process must not start."""


class EventError(Exception):
    """An event could not be applied; the job fails and RQ retries it."""


class UnmatchedCheckout(EventError):
    """A completed checkout names no user we know: money without an account."""
