"""Notifications under real conditions: two worker processes, shuffled and repeated histories.

Each user's notifications must reach the host app in version order, the last
one saying what the access API says at the end.
"""

from __future__ import annotations

import random

from shared.accounts.users import upsert_external_user
from shared.billing.status import access_answers
from shared.infra.db import database, init_database
from shared.infra.models import HostNotification, User
from tests.notification_helpers import HOST_SECRET, Receiver
from tests.processes import run_cli, service_env, start_worker
from tests.services import wait_for
from tests.settings_helpers import make_settings
from tests.stripe_fixtures import event, subscription
from tests.worker_helpers import push

USERS = 8
STATUSES = ("trialing", "active", "past_due", "active", "canceled")


def histories() -> list[dict]:
    events = []
    for n in range(USERS):
        for step, status in enumerate(STATUSES):
            sub = subscription(f"sub_ORD{n}", f"cus_ORD{n}", status)
            events.append(event("customer.subscription.updated", sub, created=100 + step))
    return events


def test_two_workers_notify_each_user_in_version_order(db_url, redis_url, redis_conn, tmp_path):
    receiver = Receiver(refuse=3)  # a few refusals on the way: retries must not reorder
    settings = make_settings(db_url, redis_url)
    env = service_env(settings, HOST_WEBHOOK_URL=receiver.url, HOST_WEBHOOK_SECRET=HOST_SECRET)
    env["HOST_WEBHOOK_RETRY_SCHEDULE"] = "0,0,0,0"
    assert run_cli(env, "db", "upgrade").returncode == 0
    init_database(db_url)
    database.connect(reuse_if_open=True)
    for n in range(USERS):
        user, _ = upsert_external_user(f"host-{n}", f"user{n}@example.com")
        User.update(stripe_customer_id=f"cus_ORD{n}").where(User.id == user.id).execute()
    deliveries = histories() * 2
    random.Random(7).shuffle(deliveries)
    workers = [start_worker(env, tmp_path, name=f"worker{k}") for k in range(2)]
    try:
        for start in range(0, len(deliveries), 10):
            push(redis_conn, *deliveries[start : start + 10])
        wait_for(lambda: all_delivered(), timeout=60, what="every user's last version delivered")
    finally:
        for worker in workers:
            worker.stop()
        receiver.stop()
    answers = access_answers([f"host-{n}" for n in range(USERS)])
    for n in range(USERS):
        versions = receiver.versions_of(f"host-{n}")
        assert versions == sorted(set(versions)), versions  # in order, each version once
        last = [note for note in receiver.accepted if note["external_id"] == f"host-{n}"][-1]
        assert last["access"] == answers[f"host-{n}"]
    assert receiver.unverified == 0
    database.close()


def all_delivered() -> bool:
    versions = dict(User.select(User.id, User.access_version).tuples())
    rows = list(HostNotification.select())
    return len(rows) == USERS and all(
        row.state == "delivered" and row.delivered_version == versions[row.user_id] for row in rows
    )
