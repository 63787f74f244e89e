"""Password hashing: production's parameters, the cheap test profile, and hashes of either verifying."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters, profiles
from argon2.exceptions import VerifyMismatchError

from shared.accounts.passwords import PRODUCTION, TEST, Passwords, hasher_for
from shared.infra.errors import ConfigError
from shared.infra.settings import Settings

ENV = {
    "SECRET_KEY": "x" * 40,
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}


def test_production_hashes_with_the_rfc_9106_low_memory_profile():
    # The one production-cost hash in the suite: argon2-cffi's defaults, as the RFC recommends.
    stored = Passwords.for_profile(PRODUCTION).hash("correct horse battery")
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    assert hasher_for(TEST).verify(stored, "correct horse battery")  # the parameters come from the hash
    assert Settings.from_env(ENV).password_hash_profile == PRODUCTION


def test_a_hash_verifies_whatever_profile_made_it():
    # Argon2 reads the parameters from the hash, so production's hasher checks a cheap hash.
    cheap = Passwords.for_profile(TEST)
    made_cheaply = cheap.hash("correct horse battery")
    assert hasher_for(PRODUCTION).verify(made_cheaply, "correct horse battery")
    assert cheap.matches(made_cheaply, "correct horse battery")
    assert not cheap.matches(made_cheaply, "wrong horse battery")


def test_no_account_and_an_unreadable_hash_never_match():
    cheap = Passwords.for_profile(TEST)
    assert not cheap.matches(None, "not a real password")  # not even the dummy's own password
    assert not cheap.matches("", "anything")
    assert not cheap.matches("$argon2id$garbage", "anything")


def test_an_unknown_account_is_checked_against_a_hash_of_the_same_cost_made_without_hashing():
    # Same parameters, so the same verify time as a real account's; made without the 64 MiB hash.
    assert extract_parameters(Passwords.for_profile(PRODUCTION).dummy_hash) == profiles.RFC_9106_LOW_MEMORY
    cheap = Passwords.for_profile(TEST)
    assert extract_parameters(cheap.dummy_hash) == extract_parameters(cheap.hash("any password"))
    with pytest.raises(VerifyMismatchError):  # well-formed: Argon2 ran, and the digest did not match
        cheap.hasher.verify(cheap.dummy_hash, "")
    assert Passwords.for_profile(TEST).dummy_hash != cheap.dummy_hash  # a random salt and digest each


@pytest.mark.parametrize("app_env", ["test", "development"])
def test_the_test_profile_is_accepted_outside_production(app_env):
    settings = Settings.from_env({**ENV, "APP_ENV": app_env, "PASSWORD_HASH_PROFILE": "test"})
    assert settings.password_hash_profile == TEST


def test_production_refuses_to_start_with_the_test_profile():
    with pytest.raises(ConfigError, match="PASSWORD_HASH_PROFILE=test is refused unless APP_ENV"):
        Settings.from_env({**ENV, "APP_ENV": "production", "PASSWORD_HASH_PROFILE": "test"})


def test_an_unknown_profile_refuses_to_start():
    with pytest.raises(ConfigError, match="PASSWORD_HASH_PROFILE must be production or test"):
        Settings.from_env({**ENV, "APP_ENV": "test", "PASSWORD_HASH_PROFILE": "fast"})
