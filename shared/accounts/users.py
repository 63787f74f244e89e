"""Accounts: creating users and checking passwords (Argon2id); users from the host app by external id."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email
from peewee import IntegrityError

from shared.accounts.passwords import Passwords
from shared.infra.access_changes import bump_access_versions
from shared.infra.db import database
from shared.infra.models import User

MIN_PASSWORD_LENGTH = 8
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less the angle brackets
MAX_EXTERNAL_ID_LENGTH = 255
EXTERNAL_ID_RULE = f"must be 1 to {MAX_EXTERNAL_ID_LENGTH} characters, not blank, without control characters"
NO_PASSWORD = ""  # a user from the host app signs in there; no password matches this


class AccountError(ValueError):
    """A bad email or password; the message is fit to show the user."""


class EmailOfAnotherUser(AccountError):
    """The host app's user has an email that a different user here already holds."""


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
    stored = user.password_hash if user and user.password_hash != NO_PASSWORD else None
    return user if passwords.matches(stored, password) else None


def is_valid_external_id(external_id: object) -> bool:
    """The host app's user id: a non-blank string of at most 255 characters, no control characters."""
    if not isinstance(external_id, str) or not external_id.strip():
        return False
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        return False
    return not any(unicodedata.category(char) == "Cc" for char in external_id)


def upsert_external_user(external_id: str, email: str) -> tuple[User, bool]:
    """Find the host app's user by ``external_id`` or create it; its email follows the host app's.

    Answers the user and whether it was created. An email that already belongs
    to a different user here is refused, never merged. Two first sign-ins at
    once: the loser of the unique index finds the winner's row.
    """
    if not is_valid_external_id(external_id):
        raise AccountError("The user id sent by the app is not valid.")
    if not is_valid_email(email):
        raise AccountError("The email address sent by the app is not valid.")
    try:
        return _upsert(external_id, normalize_email(email))
    except IntegrityError:
        return _upsert(external_id, normalize_email(email))


def _upsert(external_id: str, email: str) -> tuple[User, bool]:
    with database.atomic():
        user = User.get_or_none(User.external_id == external_id)
        holder = User.get_or_none(User.email == email)
        if holder is not None and (user is None or holder.id != user.id):
            raise EmailOfAnotherUser("This email address already belongs to another account here.")
        if user is None:
            return User.create(external_id=external_id, email=email, password_hash=NO_PASSWORD), True
        if user.email != email:
            User.update(email=email).where(User.id == user.id).execute()
            bump_access_versions(User.id == user.id)
            return User.get(User.id == user.id), False
        return user, False


def find_by_email(email: str) -> User | None:
    return User.get_or_none(User.email == normalize_email(email))
