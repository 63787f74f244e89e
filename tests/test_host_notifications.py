"""Telling the host app of access changes: the outbox, signed deliveries, retries, operators' commands.

The worker runs in-process (burst mode) against a receiver that verifies
every signature with the standardwebhooks package, as a host app would.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from shared.accounts.users import upsert_external_user
from shared.billing.status import access_answers
from shared.infra.errors import ConfigError
from shared.infra.models import HostNotification, StripeEvent, Subscription, User
from shared.infra.settings import Settings
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope
from tests.notification_helpers import HOST_SECRET, Receiver
from tests.ops_helpers import cli
from tests.services import refuse_updates
from tests.stripe_fixtures import body_of, event, subscription
from tests.worker_helpers import drain, push, stripe_client_for

CUSTOMER = "cus_HOST1"


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def notifying(settings, receiver):
    return dataclasses.replace(
        settings, host_webhook_url=receiver.url, host_webhook_secret=HOST_SECRET, host_webhook_retry_schedule=(0, 0)
    )


@pytest.fixture
def host_user(db):
    user, _ = upsert_external_user("host-1", "one@example.com")
    User.update(stripe_customer_id=CUSTOMER).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


def sub_event(status: str, created: int, event_id: str | None = None):
    return event("customer.subscription.updated", subscription("sub_HOST1", CUSTOMER, status), created, event_id)


def row() -> HostNotification | None:
    return HostNotification.get_or_none()


def test_an_applied_change_reaches_the_host_signed_with_the_access_answer(notifying, redis_conn, receiver, host_user):
    push(redis_conn, sub_event("active", 100))
    drain(notifying, redis_conn)
    [note] = receiver.accepted
    answer = access_answers(["host-1"])["host-1"]
    assert note == {
        "type": "customer.access.updated",
        "external_id": "host-1",
        "version": answer["version"],
        "access": answer,
        "webhook-id": f"acc_{host_user.id}_{answer['version']}",
    }
    assert answer["has_access"] is True and answer["version"] == 2
    assert (row().state, row().delivered_version, receiver.unverified) == ("delivered", 2, 0)


def test_a_duplicate_or_a_stale_event_notifies_nobody(notifying, redis_conn, receiver, host_user):
    first = sub_event("active", 100)
    push(redis_conn, first)
    drain(notifying, redis_conn)
    push(redis_conn, first, sub_event("past_due", 50))  # redelivered, and older than the stored state
    drain(notifying, redis_conn)
    assert len(receiver.accepted) == 1
    assert (row().state, row().version) == ("delivered", 2)
    assert StripeEvent.select().count() == 2


def test_a_batch_that_fails_after_the_change_notifies_nobody(notifying, receiver, host_user):
    refuse_updates("stripe_event", "ledger refused")  # the batch's last statement, after the subscription rows
    envelope = Envelope("evt_ROLLED", body_of(sub_event("active", 100, "evt_ROLLED")).decode(), time.time())
    with pytest.raises(Exception, match="ledger refused"):
        EventApplier(stripe_client_for(notifying)).apply_batch([envelope])
    assert row() is None
    assert User.get_by_id(host_user.id).access_version == 1
    assert Subscription.select().count() == 0


def test_a_receiver_that_refuses_the_first_attempts_gets_it_on_a_retry(notifying, redis_conn, receiver, host_user):
    receiver.refuse = 2
    push(redis_conn, sub_event("active", 100))
    drain(notifying, redis_conn)
    assert (receiver.refused, len(receiver.accepted)) == (2, 1)
    assert row().state == "delivered"
    webhook_ids = {note["webhook-id"] for note in receiver.accepted}
    assert webhook_ids == {f"acc_{host_user.id}_2"}  # a retry keeps the message id


def test_exhausted_retries_fail_and_redeliver_sends_again(app, notifying, redis_conn, receiver, host_user):
    receiver.refuse = 100
    push(redis_conn, sub_event("active", 100))
    drain(notifying, redis_conn)
    failed = row()
    assert (failed.state, failed.attempts) == ("failed", 3)  # the first attempt and the schedule's two retries
    assert failed.last_error.startswith("HTTP 500")
    app.config["SETTINGS"] = notifying
    listing = cli(app, "notifications", "list", "--failed").stdout
    assert f"{failed.id}\thost-1\tversion 2\tfailed\tattempts 3" in listing
    receiver.refuse = 0
    assert "1 notification(s) due again now" in cli(app, "notifications", "redeliver", "--failed").stdout
    drain(notifying, redis_conn)
    assert (row().state, len(receiver.accepted)) == ("delivered", 1)


def test_a_newer_version_replaces_one_not_yet_sent(notifying, redis_conn, receiver, host_user):
    applier = EventApplier(stripe_client_for(notifying))
    for status, created in (("trialing", 100), ("active", 200), ("past_due", 300)):
        change = sub_event(status, created)
        [result] = applier.apply_batch([Envelope(change["id"], body_of(change).decode(), time.time())])
        assert result.outcome == "applied", result
    assert (row().state, row().version) == ("pending", 4)
    drain(notifying, redis_conn)
    assert receiver.versions_of("host-1") == [4]
    assert receiver.accepted[0]["access"]["subscription"]["status"] == "past_due"


def test_a_host_that_cannot_be_reached_is_retried_with_the_reason(notifying, redis_conn, receiver, host_user):
    receiver.stop()
    unreachable = dataclasses.replace(notifying, host_webhook_retry_schedule=(3600,))
    push(redis_conn, sub_event("active", 100))
    drain(unreachable, redis_conn)
    waiting = row()
    assert (waiting.state, waiting.attempts) == ("pending", 1)
    assert "ConnectionError" in waiting.last_error
    assert waiting.next_attempt_at > waiting.pending_since  # an hour away: the schedule's first delay


def test_without_a_host_url_changes_wait_and_nothing_is_sent(settings, redis_conn, receiver, host_user):
    push(redis_conn, sub_event("active", 100))
    drain(settings, redis_conn)
    assert (row().state, row().attempts, receiver.accepted) == ("pending", 0, [])


def test_users_of_the_local_forms_are_not_notified(notifying, redis_conn, receiver, db):
    User.create(email="local@example.com", password_hash="x", stripe_customer_id=CUSTOMER)
    push(redis_conn, sub_event("active", 100))
    drain(notifying, redis_conn)
    assert (row(), receiver.accepted) == (None, [])


def test_the_scrape_shows_attempts_backlog_and_lag(client, notifying, redis_conn, receiver, host_user):
    receiver.refuse = 100
    push(redis_conn, sub_event("active", 100))
    drain(notifying, redis_conn)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'portal_host_notifications_total{outcome="retrying"} 2.0' in text
    assert 'portal_host_notifications_total{outcome="failed"} 1.0' in text
    assert 'portal_host_notifications_waiting{state="failed"} 1.0' in text
    assert "portal_host_notification_lag_seconds 0.0" in text  # nothing pending: failed ones are listed apart


ENV = {"SECRET_KEY": "x" * 40, "REDIS_URL": "redis://127.0.0.1:1/0", "STRIPE_SECRET_KEY": "sk_test_x"}
ENV["STRIPE_WEBHOOK_SECRET"] = "whsec_x"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOST_WEBHOOK_URL": "https://host.example/hooks"}, "HOST_WEBHOOK_SECRET must be set"),
        ({"HOST_WEBHOOK_URL": "https://host.example/hooks", "HOST_WEBHOOK_SECRET": "plain"}, "whsec_"),
        ({"HOST_WEBHOOK_URL": "https://h.example", "HOST_WEBHOOK_SECRET": "whsec_!!notbase64"}, "base64"),
        ({"HOST_WEBHOOK_URL": "ftp://host.example", "HOST_WEBHOOK_SECRET": HOST_SECRET}, "http:// or https://"),
        ({"HOST_WEBHOOK_RETRY_SCHEDULE": "5,soon"}, "HOST_WEBHOOK_RETRY_SCHEDULE must be whole seconds"),
        ({"HOST_WEBHOOK_RETRY_SCHEDULE": "5,-1"}, "HOST_WEBHOOK_RETRY_SCHEDULE must be whole seconds"),
        ({"HOST_WEBHOOK_TIMEOUT_SECONDS": "0", "HOST_WEBHOOK_URL": "https://h.example"}, "must be set"),
    ],
)
def test_host_webhook_settings_refuse_what_cannot_work(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({**ENV, **env})


def test_host_webhook_settings_defaults_and_values():
    assert Settings.from_env(ENV).host_webhook_retry_schedule == (5, 30, 120, 600, 3600, 21600, 86400)
    configured = Settings.from_env(
        {
            **ENV,
            "HOST_WEBHOOK_URL": "https://h.example/x",
            "HOST_WEBHOOK_SECRET": HOST_SECRET,
            "HOST_WEBHOOK_RETRY_SCHEDULE": "1, 2",
        }
    )
    assert (configured.host_webhook_url, configured.host_webhook_retry_schedule) == ("https://h.example/x", (1, 2))
