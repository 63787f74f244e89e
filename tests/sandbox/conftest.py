"""Fixtures: a real sandbox on a free port, a real webhook receiver, stripe-python."""

import pytest
import stripe

from stripe_sandbox.server import run_in_thread
from tests.sandbox.helpers import FAST_RETRIES, SECRET, Http, Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def sandbox(receiver):
    with run_in_thread(webhook_urls=[receiver.url], webhook_secret=SECRET, retry_delays=FAST_RETRIES) as handle:
        yield handle


@pytest.fixture
def client(sandbox) -> stripe.StripeClient:
    return sandbox.stripe_client()


@pytest.fixture
def subscribed(sandbox):
    """A customer with an active Basic subscription (all webhooks delivered)."""
    created = sandbox.sandbox.create_subscription("ada@example.com", "basic")
    assert sandbox.sandbox.wait_for_deliveries(5)
    return created


@pytest.fixture
def http(sandbox) -> Http:
    return Http(sandbox.url)
