"""``user create|show|sign-out``: accounts, from the command line."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from portal_service.extensions import passwords, redis_client, settings
from shared.accounts import user_sessions
from shared.accounts.users import AccountError, create_user, find_by_email
from shared.billing.status import billing_status
from shared.infra.db import database


@click.group("user", cls=AppGroup, help="Accounts.")
def user_group() -> None:
    pass


@user_group.command(
    "create", short_help="Create an account.", help="Create an account (the password is asked for, or read from stdin)."
)
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_command(email: str, password_stdin: bool) -> None:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with database.connection_context():
            user = create_user(email, password, passwords())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created user {user.id} {user.email}")


@user_group.command(
    "show",
    short_help="Print the account's billing status as JSON.",
    help="Print the user's billing status: the JSON of /api/billing/status.",
)
@click.argument("email")
def show_command(email: str) -> None:
    with database.connection_context():
        user = find_by_email(email)
        if user is None:
            raise click.ClickException(f"no user with email {email!r}")
        status = billing_status(user, settings().past_due_grace_days)
    # Built as the API builds its response, so the text is byte for byte the same.
    # JSONProvider.response is typed as the sans-IO Response; the app's is a flask.Response.
    click.echo(current_app.json.response(status).get_data(as_text=True), nl=False)  # type: ignore[attr-defined]


@user_group.command(
    "sign-out",
    short_help="End every signed-in session of the account.",
    help="End every signed-in session of the account (a lost device, a password reset).",
)
@click.argument("email")
def sign_out_command(email: str) -> None:
    with database.connection_context():
        user = find_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    ended = user_sessions.end_all(redis_client(), user.id)
    click.echo(f"ended {ended} session(s) of {user.email}")
