"""Domain errors shared by both processes; views and jobs translate them."""


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the process must not start."""


class EventError(Exception):
    """An event could not be applied; the job fails and RQ retries it."""


class UnmatchedCheckout(EventError):
    """A completed checkout names no user we know: money without an account."""


class CustomerOfAnotherUser(EventError):
    """A completed checkout's customer is already linked to a different user.

    Relinking would take the customer, its subscriptions and its portal away
    from that user, so nothing changes until someone looks: the message names
    the checkout, the customer and both user ids (no secrets)."""
