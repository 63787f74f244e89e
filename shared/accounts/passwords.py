"""Password hashing (Argon2id): production's parameters, and cheap ones for tests.

Every hash carries its own parameters, so a hash made with either profile
verifies whatever profile the process now runs with.
"""

from __future__ import annotations

import base64
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

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


def unmatchable_hash(hasher: PasswordHasher) -> str:
    """A well-formed hash with ``hasher``'s parameters and a random digest, made without hashing.

    Verifying against it costs what verifying a real hash does (the cost is in
    the parameters it carries) and no password matches it. Hashing one at
    start-up instead took 64 MiB (production's memory cost) in every web process
    for a moment, which each then kept as its peak (docs/benchmarks.md, "Memory").
    """

    def b64(raw: bytes) -> str:  # PHC string format: standard alphabet, no padding
        return base64.b64encode(raw).decode().rstrip("=")

    params = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    salt, digest = os.urandom(hasher.salt_len), os.urandom(hasher.hash_len)
    return f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}${params}${b64(salt)}${b64(digest)}"


class Passwords:
    """Hashes new passwords and checks given ones, in the same time whether or not the account exists."""

    def __init__(self, hasher: PasswordHasher):
        self.hasher = hasher
        # Checked against when the email is unknown, so timing does not reveal accounts.
        self.dummy_hash = unmatchable_hash(hasher)

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
