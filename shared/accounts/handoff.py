"""Sign-in by hand-off: the rules for a host app's token (a JWT, HS256 only), no HTTP.

The host app, for its signed-in user, signs a short-lived token with one of
``HANDOFF_SECRET``'s secrets and sends the browser to ``/auth/handoff``. Here
the token is verified (signature, audience, times, claims), its ``jti`` is
claimed once in Redis until the token expires (a second use is a replay), and
the user is found or created by ``sub`` (shared.accounts.users).

Every refusal is a ``HandoffRefused`` with an outcome (a fixed metric label,
shared.ops.metrics.HANDOFF_OUTCOMES) and words fit to show the user.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jwt
import redis

from shared.accounts.users import is_valid_email, is_valid_external_id

ALGORITHM = "HS256"
AUDIENCE = "portal-service"
REQUIRED_CLAIMS = ("sub", "email", "iat", "exp", "jti", "aud")
MAX_LIFETIME_SECONDS = 300  # exp at most this long after iat
LEEWAY_SECONDS = 30  # clocks of the host app and this service may differ this much
MAX_TOKEN_LENGTH = 8192
MAX_JTI_LENGTH = 255
JTI_PREFIX = "portal:handoff-jti:"
TRY_AGAIN = "Please go back to the app and open billing again."


class HandoffRefused(Exception):
    """A token that signs no one in: ``outcome`` is the metric label, ``message`` the user's words."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True)
class Handoff:
    """A verified token's claims: who, and where to go."""

    external_id: str
    email: str
    jti: str
    expires_at: int
    next: str | None


def verify(token: str | None, secrets: Sequence[str]) -> Handoff:
    """The claims of a valid token signed by any of ``secrets``; HandoffRefused otherwise."""
    if not token:
        raise HandoffRefused("no_token", f"This sign-in link has no token. {TRY_AGAIN}")
    if len(token) > MAX_TOKEN_LENGTH:
        raise HandoffRefused("malformed", f"This sign-in link is damaged. {TRY_AGAIN}")
    _check_header(token)
    claims = _decode(token, secrets)
    return _handoff(claims)


def _check_header(token: str) -> None:
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError:
        raise HandoffRefused("malformed", f"This sign-in link is damaged. {TRY_AGAIN}") from None
    if algorithm != ALGORITHM:
        raise HandoffRefused("bad_algorithm", f"This sign-in link is not signed the way we accept. {TRY_AGAIN}")


def _decode(token: str, secrets: Sequence[str]) -> dict:
    """Try each secret (rotation); the first whose signature matches decides."""
    for secret in secrets:
        try:
            return jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidTokenError as exc:
            raise _refusal(exc) from None
    raise HandoffRefused("bad_signature", f"This sign-in link was not signed by the app we trust. {TRY_AGAIN}")


# The most specific first: ExpiredSignatureError is a subclass of InvalidTokenError, and so on.
REFUSALS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "expired", "This sign-in link has expired."),
    (jwt.ImmatureSignatureError, "not_yet_valid", "This sign-in link is not valid yet: check your clock."),
    (jwt.InvalidAudienceError, "wrong_audience", "This sign-in link was made for another service."),
    (jwt.MissingRequiredClaimError, "missing_claim", "This sign-in link is missing something it needs."),
    (jwt.InvalidAlgorithmError, "bad_algorithm", "This sign-in link is not signed the way we accept."),
)


def _refusal(exc: jwt.InvalidTokenError) -> HandoffRefused:
    for kind, outcome, words in REFUSALS:
        if isinstance(exc, kind):
            return HandoffRefused(outcome, f"{words} {TRY_AGAIN}")
    return HandoffRefused("malformed", f"This sign-in link is damaged. {TRY_AGAIN}")


def _handoff(claims: dict) -> Handoff:
    iat, exp = claims["iat"], claims["exp"]
    if not (_is_number(iat) and _is_number(exp)):  # PyJWT takes any int()-able value, "123" too
        raise HandoffRefused("malformed", f"This sign-in link is damaged. {TRY_AGAIN}")
    if exp - iat > MAX_LIFETIME_SECONDS:
        raise HandoffRefused("too_long", f"This sign-in link was made to last too long. {TRY_AGAIN}")
    jti, next_path = claims["jti"], claims.get("next")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise HandoffRefused("bad_claim", f"This sign-in link is damaged. {TRY_AGAIN}")
    if not is_valid_external_id(claims["sub"]):
        raise HandoffRefused("bad_claim", f"The app sent a user id we cannot accept. {TRY_AGAIN}")
    if not isinstance(claims["email"], str) or not is_valid_email(claims["email"]):
        raise HandoffRefused("bad_claim", f"The app sent an email address we cannot accept. {TRY_AGAIN}")
    if next_path is not None and not isinstance(next_path, str):
        raise HandoffRefused("bad_next", f"This sign-in link leads somewhere we do not go. {TRY_AGAIN}")
    return Handoff(claims["sub"], claims["email"], jti, math.ceil(exp), next_path)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_next(handoff: Handoff, is_local_path: Callable[[str], bool]) -> None:
    """An optional ``next`` must be a plain local path (the web's own check decides)."""
    if handoff.next is not None and not is_local_path(handoff.next):
        raise HandoffRefused("bad_next", f"This sign-in link leads somewhere we do not go. {TRY_AGAIN}")


def claim_jti(conn: redis.Redis, handoff: Handoff) -> None:
    """Mark the token used until it expires; a second use is refused. Redis errors propagate."""
    if not conn.set(JTI_PREFIX + handoff.jti, 1, nx=True, exat=handoff.expires_at + LEEWAY_SECONDS):
        raise HandoffRefused("replayed", f"This sign-in link has already been used. {TRY_AGAIN}")
