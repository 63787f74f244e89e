"""Settings for the suite: the webhook secrets, cheap password hashing, and ``make_settings``.

Plain helpers, importable from any test module (fixtures live in conftest.py).
"""

from __future__ import annotations

from shared.accounts.passwords import TEST, Passwords
from shared.infra.settings import Settings

WEBHOOK_SECRET = "whsec_test_secret_for_the_suite"
SECOND_SECRET = "whsec_second_secret_after_rotation"
# Refused at once: no Stripe here unless a test starts the sandbox.
STRIPE_UNREACHABLE = "http://127.0.0.1:9"

# Cheap Argon2 parameters for accounts the tests create directly; the app gets
# the same through PASSWORD_HASH_PROFILE=test (production's are checked in test_passwords.py).
TEST_PASSWORDS = Passwords.for_profile(TEST)


def make_settings(db_url: str, redis_url: str, **overrides) -> Settings:
    values = dict(
        secret_key="test-secret-key-that-is-long-enough-for-production",
        database_url=db_url,
        redis_url=redis_url,
        stripe_secret_key="sk_test_suite",
        stripe_webhook_secrets=(WEBHOOK_SECRET, SECOND_SECRET),
        stripe_api_base=STRIPE_UNREACHABLE,
        app_env="test",
        billing_plans=("basic", "pro"),
        # A test's app answers what the test just wrote; the cache's eviction, which follows a
        # commit by a moment, has its own tests (test_access_cache.py), and gunicorn runs with it on.
        access_cache_size=0,
    )
    values.update(overrides)
    # Production refuses the cheap profile at start-up, so a production app gets production's.
    values.setdefault("password_hash_profile", TEST if values["app_env"] != "production" else "production")
    return Settings(**values)
