"""Thin entitlement summaries applied by the worker, on both databases: the notification names no
object, so the worker follows its v2 event to the snapshot twin for the customer, then stores that
customer's current entitlements read from Stripe (the sandbox, over HTTP)."""

from __future__ import annotations

import pytest

from shared.accounts.users import create_user
from shared.billing.entitlements import entitlements_by_customer
from shared.infra.models import Subscription, User
from shared.infra.stripe_client import build_stripe_client
from shared.sync.apply import EventApplier
from shared.sync.handlers import NO_CHANGE
from stripe_sandbox import thin
from stripe_sandbox.entitlements import SUMMARY_EVENT
from tests.settings_helpers import TEST_PASSWORDS, make_settings
from tests.test_apply import UNREACHABLE_STRIPE
from tests.test_thin_events import envelopes, ledger, notifications

THIN_SUMMARY = "v1." + SUMMARY_EVENT


def subscribed(sb, email: str, price: str = "pro") -> tuple[str, str]:
    """A customer subscribed to ``price`` and linked to a user of that email: (customer id, subscription id)."""
    made = sb.sandbox.create_subscription(email, price)
    customer_id = made["customer"]["id"]
    user = create_user(email, "correct horse battery", TEST_PASSWORDS)
    User.update(stripe_customer_id=customer_id).where(User.id == user.id).execute()
    return customer_id, made["subscription"]["id"]


def switch(sb, sub_id: str, price_id: str) -> None:
    """Move the subscription to another price: the sandbox sends a new summary for its customer."""
    client = sb.stripe_client()
    item = client.v1.subscriptions.retrieve(sub_id)["items"].data[0]
    client.v1.subscriptions.update(sub_id, params={"items": [{"id": item.id, "price": price_id}]})


def summaries(sb, customer_id: str) -> list[dict]:
    """The customer's snapshot summary events, oldest first."""
    return [e for e in sb.sandbox.events(SUMMARY_EVENT) if e["data"]["object"]["customer"] == customer_id]


def current_keys(sb, customer_id: str) -> list[str]:
    """The customer's active entitlements as Stripe (the sandbox) holds them now."""
    listed = sb.stripe_client().v1.entitlements.active_entitlements.list(params={"customer": customer_id, "limit": 100})
    return sorted(e.lookup_key for e in listed.data)


def keys_of(customer_id: str) -> list[str]:
    return entitlements_by_customer([customer_id])[customer_id]


def access_version(email: str) -> int:
    return User.get(User.email == email).access_version


def test_a_thin_summary_stores_the_customers_current_entitlements_and_bumps_access(db, sandbox):
    customer_id, sub_id = subscribed(sandbox, "thin-ent@example.com", "pro")
    switch(sandbox, sub_id, "price_sbx_basic")  # the first summary (pro's twelve) is now stale
    first = thin.notification(summaries(sandbox, customer_id)[0])
    assert first["related_object"] is None and first["type"] == THIN_SUMMARY
    before = access_version("thin-ent@example.com")

    [result] = EventApplier(sandbox.stripe_client()).apply_batch(envelopes([first]))

    assert (result.outcome, result.customer_id, result.error) == ("applied", customer_id, None)
    assert keys_of(customer_id) == current_keys(sandbox, customer_id)  # basic's, read now, not the snapshot's
    assert len(keys_of(customer_id)) < len(summaries(sandbox, customer_id)[0]["data"]["object"]["entitlements"]["data"])
    assert access_version("thin-ent@example.com") == before + 1
    recorded = ledger(first["id"])
    assert (recorded.outcome, recorded.type, recorded.note) == ("applied", THIN_SUMMARY, "read from Stripe")


def test_a_redelivered_thin_summary_is_a_recorded_duplicate(db, sandbox):
    customer_id, _ = subscribed(sandbox, "dup-ent@example.com")
    body = thin.notification(summaries(sandbox, customer_id)[-1])
    applier = EventApplier(sandbox.stripe_client())
    assert sorted(r.outcome for r in applier.apply_batch(envelopes([body, body]))) == ["applied", "duplicate"]
    version = access_version("dup-ent@example.com")

    assert [r.outcome for r in applier.apply_batch(envelopes([body]))] == ["duplicate"]
    assert access_version("dup-ent@example.com") == version
    assert keys_of(customer_id) == current_keys(sandbox, customer_id)


@pytest.mark.parametrize("thin_first", [True, False])
def test_a_summary_and_its_thin_twin_change_the_set_once(db, sandbox, thin_first):
    customer_id, _ = subscribed(sandbox, "twin-ent@example.com")
    snapshot = summaries(sandbox, customer_id)[-1]
    twin = thin.notification(snapshot)
    before = access_version("twin-ent@example.com")
    first, second = (twin, snapshot) if thin_first else (snapshot, twin)
    applier = EventApplier(sandbox.stripe_client())

    [done] = applier.apply_batch(envelopes([first]))  # separate deliveries, as from two destinations
    [again] = applier.apply_batch(envelopes([second]))

    assert done.outcome == "applied" and "unchanged" not in (done.note or "") and NO_CHANGE not in (done.note or "")
    assert keys_of(customer_id) == current_keys(sandbox, customer_id)
    assert access_version("twin-ent@example.com") == before + 1  # the second moved nothing
    if thin_first:  # the snapshot ties with the version the read stored, or is covered by the read
        assert (again.outcome, again.note) in {
            ("applied", "same second as stored state: read from Stripe; unchanged"),
            ("ignored", "older than the stored entitlements"),
        }
    else:
        assert (again.outcome, again.note) == ("applied", f"read from Stripe; {NO_CHANGE}")


def test_many_thin_summaries_of_one_customer_read_its_entitlements_once(db, sandbox):
    customer_id, sub_id = subscribed(sandbox, "burst-ent@example.com", "basic")
    for price in ("price_sbx_pro", "price_sbx_basic", "price_sbx_pro"):
        switch(sandbox, sub_id, price)
    burst = [thin.notification(e) for e in summaries(sandbox, customer_id)]
    assert len(burst) == 4
    sandbox.sandbox.rate_limit.reset_counts()
    applier = EventApplier(sandbox.stripe_client())

    results = applier.apply_batch(envelopes(burst + burst))  # and each delivered twice

    assert sorted(r.outcome for r in results) == ["applied"] * 4 + ["duplicate"] * 4
    # Per notification its v2 event and snapshot twin; the entitlements once (one page) for all of them.
    assert applier.fetches == 2 * len(burst) + 1 == sandbox.sandbox.rate_limit.state()["requests"]
    assert keys_of(customer_id) == current_keys(sandbox, customer_id)
    assert len(keys_of(customer_id)) == 12  # pro, the newest


def stored_v2_event(sb, event_id: str, **fields) -> dict:
    """A v2 event the sandbox answers as it is stored."""
    body = {"id": event_id, "object": "v2.core.event", "type": THIN_SUMMARY, "created": "2026-12-05T05:35:22.123Z"}
    body.update(fields)
    with sb.sandbox.lock:
        sb.sandbox.store.collections["thin_events"][event_id] = body  # under the id asked, whatever body says
    return body


def stored_snapshot(sb, event_id: str, event_type: str = SUMMARY_EVENT, data=None) -> None:
    """A v1 event the sandbox answers, of any shape."""
    with sb.sandbox.lock:
        created = sb.sandbox.clock.now()
        sb.sandbox.store.add(
            "events", {"id": event_id, "object": "event", "type": event_type, "created": created, "data": data}
        )


def thin_body(event_id: str) -> dict:
    return {
        "id": event_id,
        "object": "v2.core.event",
        "type": THIN_SUMMARY,
        "created": "2026-12-05T05:35:22.123Z",
        "related_object": None,
    }


def hostile_cases(sb) -> list[tuple[str, str]]:
    """(notification id, the error it must fail with), each set up in the sandbox."""
    [created] = sb.sandbox.events("customer.created")[:1]
    stored_v2_event(sb, "evt_2_no_twin")
    stored_v2_event(sb, "evt_2_twin_number", snapshot_event=7)
    stored_v2_event(sb, "evt_2_twin_itself", snapshot_event="evt_2_twin_itself")
    stored_v2_event(sb, "evt_2_twin_gone", snapshot_event="evt_gone")
    stored_v2_event(sb, "evt_2_twin_other", snapshot_event=created["id"])
    stored_v2_event(sb, "evt_2_other_id", id="evt_2_someone_else")
    stored_v2_event(sb, "evt_2_wrong_type", type="v1.customer.created")
    stored_v2_event(sb, "evt_2_bad_customer", snapshot_event="evt_bad_customer")
    stored_snapshot(sb, "evt_bad_customer", data={"object": {"customer": "acct_1"}})
    stored_v2_event(sb, "evt_2_no_data", snapshot_event="evt_no_data")
    stored_snapshot(sb, "evt_no_data", data=None)
    return [
        ("evt_thin_nosuch", "could not fetch evt_thin_nosuch from Stripe"),
        (thin.thin_id(created["id"]), "is of type 'v1.customer.created', not " + THIN_SUMMARY),
        ("evt_2_no_twin", "names no snapshot_event"),
        ("evt_2_twin_number", "snapshot_event must be a Stripe event id"),
        ("evt_2_twin_itself", "snapshot_event names the thin event itself"),
        ("evt_2_twin_gone", "could not fetch evt_gone from Stripe"),
        ("evt_2_twin_other", f"the snapshot event {created['id']} (fetched) is of type 'customer.created'"),
        ("evt_2_other_id", "Stripe answered 'evt_2_someone_else' for evt_2_other_id"),
        ("evt_2_wrong_type", "is of type 'v1.customer.created'"),
        ("evt_2_bad_customer", "data.object.customer must be a Stripe customer id"),
        ("evt_2_no_data", "the snapshot event evt_no_data (fetched): data must be an object"),
    ]


def test_each_unfit_fetched_event_fails_alone_with_a_clear_error(db, sandbox):
    customer_id, sub_id = subscribed(sandbox, "good-ent@example.com")
    neighbours = [thin.notification(summaries(sandbox, customer_id)[-1]), notifications(sandbox, sub_id)[-1]]
    cases = hostile_cases(sandbox)
    versions = {u.email: u.access_version for u in User.select()}

    batch = envelopes([thin_body(event_id) for event_id, _ in cases] + neighbours)
    results = {r.event_id: r for r in EventApplier(sandbox.stripe_client()).apply_batch(batch)}

    assert [results[n["id"]].outcome for n in neighbours] == ["applied", "applied"]
    assert keys_of(customer_id) == current_keys(sandbox, customer_id)
    assert Subscription.get_by_id(sub_id).status == "active"
    for event_id, message in cases:
        assert results[event_id].outcome == "failed", event_id
        assert message in results[event_id].error, (event_id, results[event_id].error)
        recorded = ledger(event_id)
        assert (recorded.outcome, recorded.type) == ("failed", THIN_SUMMARY) and message in recorded.error
    changed = {u.email for u in User.select() if u.access_version != versions[u.email]}
    assert changed == {"good-ent@example.com"}  # the failures touched no one


def test_a_stripe_outage_fails_the_thin_summary_and_its_retry_applies_it(db, sandbox):
    customer_id, _ = subscribed(sandbox, "outage-ent@example.com")
    body = thin.notification(summaries(sandbox, customer_id)[-1])

    [failed] = EventApplier(UNREACHABLE_STRIPE).apply_batch(envelopes([body]))

    assert failed.outcome == "failed" and f"could not fetch {body['id']} from Stripe" in failed.error
    assert ledger(body["id"]).outcome == "failed" and keys_of(customer_id) == []
    [retried] = EventApplier(sandbox.stripe_client()).apply_batch(envelopes([body]))  # as RQ retries it
    assert retried.outcome == "applied" and ledger(body["id"]).outcome == "applied"
    assert keys_of(customer_id) == current_keys(sandbox, customer_id)


def test_stripes_429s_on_the_thin_summary_path_are_waited_out(db, sandbox, redis_url):
    customers = [subscribed(sandbox, f"rate-ent{i}@example.com")[0] for i in range(3)]
    bodies = [thin.notification(summaries(sandbox, c)[-1]) for c in customers]
    settings = make_settings("sqlite://", redis_url, stripe_api_base=sandbox.api_base, stripe_rate_limit=1000)
    client = build_stripe_client(settings)  # the service's own client, through its rate limiter
    sandbox.sandbox.rate_limit.configure(2)

    results = EventApplier(client).apply_batch(envelopes(bodies))

    assert {r.outcome for r in results} == {"applied"}
    throttled = sandbox.sandbox.rate_limit.state()["throttled"]
    assert throttled > 0 and client._requestor._client.rate_limited == throttled  # type: ignore[attr-defined]
    sandbox.sandbox.rate_limit.configure(None)
    assert all(keys_of(c) == current_keys(sandbox, c) for c in customers)
