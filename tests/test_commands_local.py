"""Commands that need no Stripe: user create/show and failed list/requeue/purge."""

from __future__ import annotations

import dataclasses
import json

import pytest

from shared.accounts import user_sessions
from shared.accounts.users import create_user
from shared.infra.models import StripeEvent, User
from shared.infra.queue import billing_queue
from tests.ops_helpers import cli, snapshot_db, snapshot_redis
from tests.settings_helpers import TEST_PASSWORDS
from tests.stripe_fixtures import checkout_session, event, subscription
from tests.worker_helpers import drain, push


def invoke(app, *args, input=None):
    """Like cli(), for commands expected to fail: exceptions become exit codes."""
    return app.test_cli_runner().invoke(args=list(args), input=input)


# -- user ------------------------------------------------------------------------------


def test_user_create_reads_the_password_from_stdin(app):
    result = cli(app, "user", "create", "Ann@Example.com", "--password-stdin", input="correct horse\n")
    assert result.exit_code == 0, result.output
    user = User.get(User.email == "ann@example.com")
    assert result.stdout == f"created user {user.id} ann@example.com\n"
    assert "correct horse" not in result.output


def test_user_create_prompts_twice_without_echo(app):
    result = cli(app, "user", "create", "bob@example.com", input="long enough\nlong enough\n")
    assert result.exit_code == 0, result.output
    assert User.get_or_none(User.email == "bob@example.com") is not None


@pytest.mark.parametrize(
    "email, password, message",
    [
        ("not-an-email", "long enough", "Enter a valid email address."),
        ("carol@example.com", "short", "Use a password of at least 8 characters."),
        ("taken@example.com", "long enough", "An account with this email already exists."),
    ],
)
def test_user_create_refuses_bad_input_and_changes_nothing(app, email, password, message):
    create_user("taken@example.com", "correct horse", TEST_PASSWORDS)
    before = snapshot_db()
    result = invoke(app, "user", "create", email, "--password-stdin", input=password + "\n")
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    assert snapshot_db() == before


def test_user_show_prints_exactly_the_status_api_json(app, client, settings, redis_conn):
    user = create_user("dee@example.com", "correct horse", TEST_PASSWORDS)
    User.update(stripe_customer_id="cus_DEE").where(User.id == user.id).execute()
    sub = subscription(customer="cus_DEE", status="active")
    push(redis_conn, event("customer.subscription.created", sub, created=1_700_000_100))
    drain(settings, redis_conn)

    with client.session_transaction() as session:  # signed in as flask-login records it
        session["_user_id"] = user_sessions.start(redis_conn, user.id)
        session["_fresh"] = True
    api = client.get("/api/billing/status")
    assert api.status_code == 200
    shown = cli(app, "user", "show", "DEE@example.com")
    assert shown.stdout == api.get_data(as_text=True)
    assert json.loads(shown.stdout)["subscription"]["id"] == sub["id"]


def test_user_show_of_an_unknown_email_fails(app):
    result = invoke(app, "user", "show", "nobody@example.com")
    assert result.exit_code == 1
    assert "no user with email 'nobody@example.com'" in result.output


# -- failed ----------------------------------------------------------------------------


def fail_checkouts(settings, redis_conn, *emails) -> list[dict]:
    """Checkouts naming no known user: each fails, and with no retries ends in the registry."""
    events = [
        event("checkout.session.completed", checkout_session(customer=f"cus_{i}", email=email))
        for i, email in enumerate(emails)
    ]
    push(redis_conn, *events)
    drain(dataclasses.replace(settings, worker_max_retries=0), redis_conn)
    return events


def failed_ids(redis_conn) -> list[str]:
    return billing_queue(redis_conn).failed_job_registry.get_job_ids()


def test_failed_list_shows_error_and_ledger_row(app, settings, redis_conn):
    [evt] = fail_checkouts(settings, redis_conn, "ghost@example.com")
    result = cli(app, "failed", "list")
    assert result.exit_code == 0
    assert f"{evt['id']} checkout.session.completed ledger=failed attempts=2" in result.stdout
    assert "names no known user" in result.stdout
    assert result.stdout.endswith("1 failed event(s)\n")


def test_failed_requeue_after_fixing_the_cause_applies_the_event(app, settings, redis_conn):
    [evt] = fail_checkouts(settings, redis_conn, "fixme@example.com")
    before_db, before_redis = snapshot_db(), snapshot_redis(redis_conn)
    dry = cli(app, "failed", "requeue", "--dry-run", evt["id"])
    assert dry.stdout == f"would requeue {evt['id']}\n1 would be requeued\n"
    assert snapshot_db() == before_db and snapshot_redis(redis_conn) == before_redis

    user = create_user("fixme@example.com", "correct horse", TEST_PASSWORDS)
    assert cli(app, "failed", "requeue", evt["id"]).stdout.endswith("1 requeued\n")
    drain(dataclasses.replace(settings, worker_max_retries=0), redis_conn)
    assert User.get_by_id(user.id).stripe_customer_id == "cus_0"
    assert StripeEvent.get_by_id(evt["id"]).outcome == "applied"
    assert failed_ids(redis_conn) == []


def test_failed_requeue_all(app, settings, redis_conn):
    fail_checkouts(settings, redis_conn, "a@example.com", "b@example.com")
    result = cli(app, "failed", "requeue", "--all")
    assert result.stdout.endswith("2 requeued\n")
    assert failed_ids(redis_conn) == [] and billing_queue(redis_conn).count == 2


@pytest.mark.parametrize(
    "args, code, message",
    [
        ((), 2, "give either --all or one or more EVENT_IDs"),
        (("--all", "evt_x"), 2, "give either --all or one or more EVENT_IDs"),
        (("evt_unknown",), 1, "no failed job for evt_unknown"),
    ],
)
def test_failed_requeue_refuses_bad_arguments_and_changes_nothing(app, settings, redis_conn, args, code, message):
    fail_checkouts(settings, redis_conn, "c@example.com")
    before_db, before_redis = snapshot_db(), snapshot_redis(redis_conn)
    result = invoke(app, "failed", "requeue", *args)
    assert result.exit_code == code
    assert message in result.output
    assert snapshot_db() == before_db and snapshot_redis(redis_conn) == before_redis


def test_failed_purge_dry_run_then_confirmation_then_purge(app, settings, redis_conn):
    events = fail_checkouts(settings, redis_conn, "d@example.com", "e@example.com")
    before_db, before_redis = snapshot_db(), snapshot_redis(redis_conn)
    dry = cli(app, "failed", "purge", "--dry-run")
    assert dry.stdout.endswith("2 would be purged\n")
    assert snapshot_db() == before_db and snapshot_redis(redis_conn) == before_redis

    declined = invoke(app, "failed", "purge", input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert snapshot_redis(redis_conn) == before_redis

    job_ids = failed_ids(redis_conn)
    purged = cli(app, "failed", "purge", "--yes")
    assert purged.stdout.endswith("2 purged\n")
    assert failed_ids(redis_conn) == []
    assert all(not redis_conn.exists(f"rq:job:{job_id}") for job_id in job_ids)
    assert [StripeEvent.get_by_id(e["id"]).outcome for e in events] == ["failed", "failed"]
    assert cli(app, "failed", "list").stdout == "0 failed event(s)\n"
