"""The console script on a machine with no settings: help for every command, and a
one-line refusal (exit 2, nothing done) from a command that needs a missing setting.

The issue's two cases run the installed ``portal-service`` script with an empty
environment (PATH only): it imports every command module at start-up, so this
also shows that no import reads a setting. The walk over every command runs in
this process with every environment variable removed: a Python start-up per
command would cost seconds for nothing more.
"""

from __future__ import annotations

import os
import subprocess

import click
import pytest
from click.testing import CliRunner

from portal_service.cli import cli
from tests.processes import BIN

DOCUMENTED = "(see .env.example and the README's Configuration table)"
REQUIRED = {"SECRET_KEY": "x" * 40, "REDIS_URL": "redis://127.0.0.1:1/0", "STRIPE_SECRET_KEY": "sk_test_x"}


def run_script(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", os.defpath)}
    return subprocess.run(
        [str(BIN / "portal-service"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def no_settings(monkeypatch, tmp_path):
    """No environment variable at all, in an empty working directory."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="portal-service")


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()):
    """Every group and command under ``group``, as the words that name it."""
    yield prefix, group
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def listed_commands(help_text: str) -> dict[str, str]:
    """The ``Commands:`` section of a help page: name -> its one-line description."""
    section = help_text.partition("\nCommands:\n")[2]
    return dict(line.strip().split(None, 1) for line in section.splitlines() if line.strip())


def test_top_level_help_lists_this_projects_commands(tmp_path):
    result = run_script("--help", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: portal-service [OPTIONS] COMMAND [ARGS]...\n")
    assert listed_commands(result.stdout) == {
        "api-key": "Keys the host app's backend calls /api/v1/ with.",
        "db": "Database schema.",
        "events": "Stripe events.",
        "catalog": "Products, prices and features, from a file.",
        "failed": "Events whose retries are exhausted.",
        "notifications": "Access changes sent to the host app (HOST_WEBHOOK_URL).",
        "portal-config": "Customer Portal configuration, from a file.",
        "sync": "Bring subscription rows up to date with Stripe.",
        "user": "Accounts.",
    }
    assert os.listdir(tmp_path) == []


def test_help_of_a_command_needs_no_settings(tmp_path):
    result = run_script("user", "create", "--help", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: portal-service user create [OPTIONS] EMAIL\n")
    assert "--password-stdin" in result.stdout


def test_user_create_without_settings_names_the_variable_in_one_line(tmp_path):
    result = run_script("user", "create", "x@example.com", cwd=tmp_path)
    message = f"Error: SECRET_KEY is required but not set {DOCUMENTED}\n"
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)
    assert os.listdir(tmp_path) == []  # no var/, no database: nothing was done


def test_help_of_every_command_and_group_needs_no_settings(no_settings):
    paths = list(command_paths(cli))
    assert {("db", "upgrade"), ("events", "replay"), ("user", "create")} <= {words for words, _ in paths}
    for words, command in paths:
        result = invoke(*words, "--help")
        assert (result.exit_code, result.exception) == (0, None), (words, result.output)
        assert result.output.startswith(" ".join(("Usage: portal-service", *words)) + " "), result.output
        if isinstance(command, click.Group):
            listed = listed_commands(result.output)
            assert sorted(listed) == sorted(command.commands), (words, result.output)
            assert not [text for text in listed.values() if text.endswith("...")], "descriptions fit on one line"
    assert os.listdir(no_settings) == []


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["db", "upgrade"], {"SECRET_KEY": "x" * 40}, f"REDIS_URL is required but not set {DOCUMENTED}"),
        (["sync"], REQUIRED, f"STRIPE_WEBHOOK_SECRET is required but not set {DOCUMENTED}"),
        (
            ["failed", "list"],
            {**REQUIRED, "STRIPE_WEBHOOK_SECRET": "whsec_x", "WORKER_STALL_SECONDS": "soon"},
            "WORKER_STALL_SECONDS must be a whole number, got 'soon'",
        ),
        (
            ["user", "show", "x@example.com"],
            {**REQUIRED, "STRIPE_WEBHOOK_SECRET": "whsec_x", "APP_ENV": "staging"},
            "APP_ENV must be production, development or test",
        ),
        (
            ["api-key", "list"],
            {**REQUIRED, "STRIPE_WEBHOOK_SECRET": "whsec_x", "ACCESS_CACHE_SIZE": "-1"},
            "ACCESS_CACHE_SIZE must be 0 (off) or more users per web process",
        ),
    ],
)
def test_a_missing_or_bad_setting_is_one_line_exit_2_and_nothing_done(no_settings, monkeypatch, args, env, message):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{no_settings / 'portal.db'}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = invoke(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert os.listdir(no_settings) == []  # no database file: nothing was done
