"""Password hashing (Argon2id): production's parameters, and cheap ones for tests.

Every hash carries its own parameters, so a hash made with either profile
verifies whatever profile the process now runs with.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults: RFC 9106's low-memory profile (t=3, 64 MiB, p=4).
PRODUCTION = "production"
# Tests hash hundreds of passwords: 8 KiB and one pass is enough to prove the code path.
TEST = "test"
PROFILES = (PRODUCTION, TEST)


def hasher_for(profile: str) -> PasswordHasher:
    if profile == TEST:
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    if profile == PRODUCTION:
        return PasswordHasher()
    raise ValueError(f"unknown password hash profile {profile!r}")


class Passwords:
    """Hashes new passwords and checks given ones, in the same time whether or not the account exists."""

    def __init__(self, hasher: PasswordHasher):
        self.hasher = hasher
        # Checked against when the email is unknown, so timing does not reveal accounts.
        self.dummy_hash = hasher.hash("not a real password")

    @classmethod
    def for_profile(cls, profile: str) -> Passwords:
        return cls(hasher_for(profile))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def matches(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; ``None`` (no account) never matches, in the same time."""
        try:
            self.hasher.verify(self.dummy_hash if stored_hash is None else stored_hash, password or "")
        except (VerificationError, InvalidHashError):
            return False
        return stored_hash is not None
