"""Accounts: creating users and checking passwords (Argon2id)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email

from shared.infra.db import database
from shared.infra.models import User

MIN_PASSWORD_LENGTH = 8
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less the angle brackets

_hasher = PasswordHasher()  # Argon2id with the library's current parameters
# Checked against when the email is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(ValueError):
    """A bad email or password; the message is fit to show the user."""


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def validate_new_account(email: str, password: str) -> None:
    if not is_valid_email(email):
        raise AccountError("Enter a valid email address.")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")


def is_valid_email(email: str) -> bool:
    """A syntax check whose cost is bounded by the length cap, checked first.

    (A pattern with a quantified part after another one can take seconds of CPU
    on 32 KB of dots.) No DNS: deliverability is not checked here.
    """
    email = (email or "").strip()
    if len(email) > MAX_EMAIL_LENGTH:
        return False
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def create_user(email: str, password: str) -> User:
    validate_new_account(email, password)
    email = normalize_email(email)
    with database.atomic():
        if User.get_or_none(User.email == email):
            raise AccountError("An account with this email already exists.")
        return User.create(email=email, password_hash=_hasher.hash(password))


def authenticate(email: str, password: str) -> User | None:
    user = User.get_or_none(User.email == normalize_email(email))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    return user


def find_by_email(email: str) -> User | None:
    return User.get_or_none(User.email == normalize_email(email))
