"""Entitlements applied by the worker's code on SQLite and PostgreSQL: summaries of more than one
page, shuffled and duplicated deliveries, older summaries, ties, endings, and hostile summaries."""

from __future__ import annotations

import json
import random
import time

import pytest
import stripe

from shared.accounts.users import create_user
from shared.billing.entitlements import entitlements_by_customer
from shared.infra.models import CustomerEntitlements, Entitlement, StripeEvent, User
from shared.sync.apply import EventApplier
from shared.sync.inbox import Envelope
from stripe_sandbox.entitlements import SUMMARY_EVENT
from tests.settings_helpers import TEST_PASSWORDS
from tests.stripe_fixtures import body_of, entitlement_summary, event
from tests.worker_helpers import drain, push

UNREACHABLE_STRIPE = stripe.StripeClient(
    "sk_test_x", base_addresses={"api": "http://127.0.0.1:9"}, max_network_retries=0
)
PRO = sorted(
    [
        "advanced_reports", "api_access", "audit_log", "custom_domain", "email_support", "export_csv",
        "priority_support", "projects_unlimited", "retention_1y", "sso", "team_roles", "webhooks",
    ]
)  # fmt: skip


def envelope(evt: dict) -> Envelope:
    return Envelope(evt["id"], body_of(evt).decode(), time.time(), "1-0")


def apply(applier, *events):
    return {r.event_id: r for r in applier.apply_batch([envelope(e) for e in events])}


def summary_event(customer="cus_T1", keys=(), created=100, has_more=False, event_id=None) -> dict:
    return event(SUMMARY_EVENT, entitlement_summary(customer, keys, has_more), created, event_id)


def keys_of(customer="cus_T1") -> list[str]:
    return entitlements_by_customer([customer])[customer]


def access_version(email: str) -> int:
    return User.get(User.email == email).access_version


@pytest.fixture
def offline(db):
    return EventApplier(UNREACHABLE_STRIPE)


@pytest.fixture
def linked(db):
    user = create_user("ent@example.com", "correct horse battery", TEST_PASSWORDS)
    User.update(stripe_customer_id="cus_T1").where(User.id == user.id).execute()
    return "ent@example.com"


def test_summary_sets_sorted_lookup_keys_and_bumps_access_once(offline, linked):
    before = access_version(linked)
    first = summary_event(keys=["sso", "export", "api"], created=100)
    assert apply(offline, first)[first["id"]].outcome == "applied"
    assert keys_of() == ["api", "export", "sso"]
    same = summary_event(keys=["export", "api", "sso", "sso"], created=200)  # same set, a repeated entry
    assert apply(offline, same)[same["id"]].note == "entitlements unchanged"
    assert access_version(linked) == before + 1  # only the real change moved it
    assert entitlements_by_customer(["cus_T1", "cus_NONE", None]) == {
        "cus_T1": ["api", "export", "sso"],
        "cus_NONE": [],
    }


def test_shuffled_and_duplicated_summaries_end_in_the_newest_set(offline):
    sets = [["a"], ["a", "b"], [], ["c", "d", "e"], ["d"]]
    events = [summary_event(keys=keys, created=100 * (i + 1)) for i, keys in enumerate(sets)]
    deliveries = events * 3
    random.Random(7).shuffle(deliveries)
    for start in range(0, len(deliveries), 4):  # batches of four, in shuffled order
        apply(offline, *deliveries[start : start + 4])
    assert keys_of() == ["d"]
    outcomes = {evt["id"]: StripeEvent.get_by_id(evt["id"]).outcome for evt in events}
    assert set(outcomes.values()) <= {"applied", "ignored"} and outcomes[events[-1]["id"]] == "applied"
    assert CustomerEntitlements.get_by_id("cus_T1").version_created == events[-1]["created"]


def test_a_summary_older_than_the_stored_one_is_ignored(offline):
    newer, older = summary_event(keys=["new"], created=200), summary_event(keys=["old"], created=100)
    apply(offline, newer)
    result = apply(offline, older)[older["id"]]
    assert (result.outcome, result.note) == ("ignored", "older than the stored entitlements")
    assert keys_of() == ["new"]


@pytest.fixture
def pro_customer(sandbox, db):
    """A sandbox customer on Pro: twelve entitlements, more than a summary's page of ten."""
    made = sandbox.sandbox.create_subscription("pro@example.com", "pro")
    user = create_user("pro@example.com", "correct horse battery", TEST_PASSWORDS)
    User.update(stripe_customer_id=made["customer"]["id"]).where(User.id == user.id).execute()
    return made


def sandbox_summaries(sandbox) -> list[dict]:
    return sandbox.sandbox.events(SUMMARY_EVENT)


def test_more_than_ten_are_read_whole_once_per_customer_per_batch(sandbox, pro_customer):
    (granted,) = sandbox_summaries(sandbox)
    assert (
        len(granted["data"]["object"]["entitlements"]["data"]) == 10
        and granted["data"]["object"]["entitlements"]["has_more"]
    )
    again = {**granted, "id": "evt_again_same_summary", "created": granted["created"] + 1}
    applier = EventApplier(sandbox.stripe_client())
    results = apply(applier, granted, again)
    assert applier.fetches == 1
    customer = pro_customer["customer"]["id"]
    assert keys_of(customer) == PRO
    assert results[granted["id"]].note == "more than one page: read from Stripe"


def test_a_subscription_that_ends_empties_the_set(sandbox, pro_customer):
    client = sandbox.stripe_client()
    client.v1.subscriptions.cancel(pro_customer["subscription"]["id"])
    granted, ended = sandbox_summaries(sandbox)
    assert ended["data"]["object"]["entitlements"]["data"] == []
    applier = EventApplier(client)
    apply(applier, ended, granted)  # one batch, any order: the newest wins
    customer = pro_customer["customer"]["id"]
    assert keys_of(customer) == [] and Entitlement.select().count() == 0


def test_a_summary_in_the_same_second_is_settled_by_stripe(sandbox, pro_customer):
    customer = pro_customer["customer"]["id"]
    (granted,) = sandbox_summaries(sandbox)
    stale_copy = summary_event(customer, ["only_this"], created=granted["created"])
    applier = EventApplier(sandbox.stripe_client())
    apply(applier, granted)
    result = apply(applier, stale_copy)[stale_copy["id"]]
    assert result.note == "same second as stored state: read from Stripe; unchanged"
    assert keys_of(customer) == PRO


def test_through_the_worker(settings, redis_conn, sandbox, pro_customer):
    """The real worker (RQ, the stream consumer), with Stripe at the sandbox."""
    import dataclasses

    worker_settings = dataclasses.replace(settings, stripe_api_base=sandbox.api_base)
    push(redis_conn, *sandbox_summaries(sandbox))
    drain(worker_settings, redis_conn)
    assert keys_of(pro_customer["customer"]["id"]) == PRO


def hostile(mutate) -> dict:
    evt = summary_event(keys=["kept"], created=300)
    mutate(evt["data"]["object"])
    return evt


def _set(path, value):
    def mutate(obj):
        node = obj
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


HOSTILE = [
    (_set(["customer"], None), "data.object.customer must be a Stripe customer id"),
    (_set(["customer"], "cus_\x00"), "data.object.customer must be a Stripe customer id"),
    (_set(["entitlements"], "all of them"), "data.object.entitlements must be an object"),
    (_set(["entitlements", "has_more"], "yes"), "has_more must be true or false"),
    (_set(["entitlements", "data"], {"0": 1}), "entitlements.data must be a list of at most 100"),
    (_set(["entitlements", "data"], [{"feature": "feat_x", "lookup_key": "k"}] * 101), "at most 100"),
    (_set(["entitlements", "data", 0, "feature"], "prod_x"), "data[0].feature must be a Stripe feature id"),
    (_set(["entitlements", "data", 0, "lookup_key"], "a\nb"), "data[0].lookup_key must be 1 to 255"),
    (_set(["entitlements", "data", 0, "lookup_key"], "k" * 256), "data[0].lookup_key must be 1 to 255"),
    (_set(["entitlements", "data", 0, "lookup_key"], ""), "data[0].lookup_key must be 1 to 255"),
    (_set(["entitlements", "data", 0], "feat_x"), "data[0] must be an object"),
]


@pytest.mark.parametrize("mutate, message", HOSTILE)
def test_hostile_summaries_fail_alone_and_change_nothing(offline, linked, mutate, message):
    apply(offline, summary_event(keys=["kept"], created=100))
    version = access_version(linked)
    bad, good = hostile(mutate), summary_event(customer="cus_T2", keys=["fine"], created=300)
    results = apply(offline, bad, good)
    assert results[bad["id"]].outcome == "failed" and message in results[bad["id"]].error
    assert results[good["id"]].outcome == "applied"  # its neighbour in the batch is not undone
    assert keys_of() == ["kept"] and access_version(linked) == version
    assert message in StripeEvent.get_by_id(bad["id"]).error


def test_when_stripe_cannot_be_read_the_event_fails_and_changes_nothing(offline, linked):
    apply(offline, summary_event(keys=["kept"], created=100))
    partial = summary_event(keys=[str(i) for i in range(10)], created=200, has_more=True)
    result = apply(offline, partial)[partial["id"]]
    assert result.outcome == "failed" and "could not read the entitlements of cus_T1 from Stripe" in result.error
    assert keys_of() == ["kept"]
    assert json.loads(body_of(partial))["data"]["object"]["entitlements"]["has_more"] is True
