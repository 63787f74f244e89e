"""Every Stripe call goes through one limiter shared through Redis, and Stripe's 429s are waited out.

Against the sandbox over HTTP, answering 429 above a configured rate as Stripe
does; each claim is compared with a baseline measured in the same test.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
import stripe
from prometheus_client import REGISTRY

from shared.infra.errors import ConfigError
from shared.infra.settings import Settings
from shared.infra.stripe_client import RateLimitedHTTPClient, build_stripe_client
from shared.infra.stripe_rate import StripeRateLimiter
from shared.ops import metrics
from tests.settings_helpers import make_settings

CALLS = 10


def limited_client(sandbox, redis_url, per_second: int) -> stripe.StripeClient:
    settings = make_settings("sqlite://", redis_url, stripe_api_base=sandbox.api_base, stripe_rate_limit=per_second)
    return build_stripe_client(settings)


def http_client(client: stripe.StripeClient) -> RateLimitedHTTPClient:
    return client._requestor._client  # type: ignore[attr-defined,return-value]


def call_many(clients, count: int) -> None:
    for i in range(count):
        clients[i % len(clients)].v1.prices.list()


def throttled(sandbox) -> int:
    return sandbox.sandbox.rate_limit.state()["throttled"]


def test_clients_sharing_the_limit_stay_under_stripes_rate(sandbox, redis_url, redis_conn):
    sandbox.sandbox.rate_limit.configure(5)
    with pytest.raises(stripe.RateLimitError):  # the baseline: unlimited, the sandbox refuses some
        call_many([sandbox.stripe_client()], CALLS)
    baseline = throttled(sandbox)
    assert baseline > 0
    # Two clients, as two processes would build them: one window in Redis between them.
    clients = [limited_client(sandbox, redis_url, 4) for _ in range(2)]
    sandbox.sandbox.rate_limit.configure(5)

    call_many(clients, CALLS)

    assert throttled(sandbox) == baseline  # not one more 429
    assert sum(http_client(c).limiter.waited_seconds for c in clients) > 0


def test_a_429_is_backed_off_and_retried_without_failing_the_call(sandbox, redis_url, redis_conn):
    client = limited_client(sandbox, redis_url, 1000)  # our limit far above the sandbox's
    sandbox.sandbox.rate_limit.configure(3)

    call_many([client], CALLS)  # raises if any call failed

    seen = throttled(sandbox)
    assert seen > 0 and http_client(client).rate_limited == seen


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_limiter_waits_and_429s_are_counted_in_the_metrics(sandbox, redis_url, redis_conn):
    settings = make_settings("sqlite://", redis_url, stripe_api_base=sandbox.api_base, stripe_rate_limit=4)
    client = build_stripe_client(settings, metrics.observe_limiter_wait, metrics.count_stripe_429)
    sandbox.sandbox.rate_limit.configure(3)  # below ours: some requests wait, some get a 429
    names = ("portal_stripe_rate_limited_total", "portal_stripe_limiter_wait_seconds_sum")
    before = {name: sample(name) for name in (*names, "portal_stripe_limiter_wait_seconds_count")}

    call_many([client], CALLS)

    throttled_now = throttled(sandbox)
    assert throttled_now > 0 and sample(names[0]) - before[names[0]] == throttled_now
    waited = http_client(client).limiter.waited_seconds
    assert waited > 0 and sample(names[1]) - before[names[1]] == pytest.approx(waited)
    assert sample("portal_stripe_limiter_wait_seconds_count") > before["portal_stripe_limiter_wait_seconds_count"]
    text = metrics.exposition(None).decode()
    assert "portal_stripe_limiter_wait_seconds_count" in text and "portal_stripe_rate_limited_total" in text


def test_the_web_and_the_worker_hand_their_clients_the_metrics(settings, db, redis_conn):
    from portal_service import create_app
    from worker.context import build_context

    for client in (create_app(settings).extensions["stripe"], build_context(settings).stripe):
        assert http_client(client).on_wait == metrics.observe_limiter_wait
        assert http_client(client).on_429 == metrics.count_stripe_429


def test_redis_down_fails_open_with_one_warning(sandbox, caplog):
    limiter = StripeRateLimiter("redis://127.0.0.1:9/0", 1, "sk_test_x")
    client = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": sandbox.api_base}, http_client=RateLimitedHTTPClient(limiter)
    )
    with caplog.at_level(logging.WARNING, logger="shared.infra.stripe_rate"):
        call_many([client], 5)  # five calls at "1 per second", none waited for
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1 and limiter.waited_seconds == 0


def test_every_client_the_service_builds_is_limited(redis_url):
    settings = make_settings("sqlite://", redis_url)
    assert isinstance(http_client(build_stripe_client(settings)), RateLimitedHTTPClient)


ENV = {"SECRET_KEY": "x" * 40, "REDIS_URL": "redis://127.0.0.1:6379/0", "STRIPE_WEBHOOK_SECRET": "whsec_x"}


def test_the_default_limit_is_half_of_stripes_for_the_keys_mode():
    assert Settings.from_env({**ENV, "STRIPE_SECRET_KEY": "sk_live_x"}).stripe_requests_per_second == 50
    assert Settings.from_env({**ENV, "STRIPE_SECRET_KEY": "rk_live_x"}).stripe_requests_per_second == 50
    assert Settings.from_env({**ENV, "STRIPE_SECRET_KEY": "sk_test_x"}).stripe_requests_per_second == 12
    chosen = Settings.from_env({**ENV, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_RATE_LIMIT": "80"})
    assert chosen.stripe_requests_per_second == 80


@pytest.mark.parametrize(
    "name, value",
    [
        ("STRIPE_RATE_LIMIT", "-1"),
        ("STRIPE_RATE_LIMIT", "2.5"),
        ("STRIPE_RATE_LIMIT", "99999"),
        ("STRIPE_FETCH_MODE", "x"),
    ],
)
def test_bad_stripe_settings_are_refused_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**ENV, "STRIPE_SECRET_KEY": "sk_test_x", name: value})


def test_fetch_mode_is_read():
    env = {**ENV, "STRIPE_SECRET_KEY": "sk_test_x"}
    assert Settings.from_env(env).stripe_fetch_mode == "ties"
    assert Settings.from_env({**env, "STRIPE_FETCH_MODE": "always"}).stripe_fetch_mode == "always"
    assert dataclasses.replace(Settings.from_env(env), stripe_rate_limit=0).stripe_requests_per_second == 12
