"""Accounts: creating users and checking passwords (Argon2id)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from shared.accounts.passwords import Passwords
from shared.infra.db import database
from shared.infra.models import User

MIN_PASSWORD_LENGTH = 8
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less the angle brackets


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


def create_user(email: str, password: str, passwords: Passwords) -> User:
    validate_new_account(email, password)
    email = normalize_email(email)
    with database.atomic():
        if User.get_or_none(User.email == email):
            raise AccountError("An account with this email already exists.")
        return User.create(email=email, password_hash=passwords.hash(password))


def authenticate(email: str, password: str, passwords: Passwords) -> User | None:
    user = User.get_or_none(User.email == normalize_email(email))
    return user if passwords.matches(user.password_hash if user else None, password) else None


def find_by_email(email: str) -> User | None:
    return User.get_or_none(User.email == normalize_email(email))
