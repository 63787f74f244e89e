"""The ``portal-service`` console script (``flask --app portal_service ...`` runs the same commands).

Its commands are registered here, not found by creating the app, so that help
works on a machine with no settings at all. The app, and the settings it
reads from the environment, are created only when a command runs (Flask's
``with_appcontext`` on every command, through the ``ScriptInfo`` given here).
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo

from portal_service import commands
from shared.infra.errors import ConfigError


class SettingsError(click.ClickException):
    """A setting is missing or invalid: the command did not start, nothing was done."""

    exit_code = 2  # as for a bad command line (1 is the command's own failure, e.g. `db status`)


def _create_app() -> Flask:
    from portal_service import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None


class ServiceGroup(AppGroup):
    """Each run gets its own ScriptInfo, which creates the app on first use."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        extra.setdefault("obj", ScriptInfo(create_app=_create_app, set_debug_flag=False))
        return super().make_context(info_name, args, parent, **extra)


cli = ServiceGroup(
    "portal-service",
    help="Operator commands of the billing portal service.\n\n"
    "Settings are read from the environment when a command runs (help needs none); "
    ".env.example and the README's Configuration table describe every variable. "
    "A missing or invalid setting stops the command before it does anything, with exit status 2.",
)
for command in commands.all_commands():
    cli.add_command(command)


def main() -> None:
    cli.main(prog_name="portal-service")
