"""The access check's per-process cache on PostgreSQL: kept right by the database's change feed.

Every change to what an answer reads, whoever commits it, evicts it; a read
that raced a change is not kept; a lost or silent feed empties the cache and
the database answers; a revoked key is refused once ``revoke`` returns.
"""

from __future__ import annotations

import dataclasses
import re
import time
from types import SimpleNamespace

import pytest

from portal_service import create_app
from portal_service.access_cache import AccessCache
from portal_service.access_fast_path import _checked_answer_query, _read
from shared.accounts import api_keys
from shared.infra.change_feed import TRUST_SECONDS, Change, parse, trigger_sql
from shared.infra.db import database
from shared.infra.models import ApiKey, Entitlement, Subscription, User
from tests.api_helpers import get_access, new_key, put_customer
from tests.services import postgres_only, wait_for
from tests.test_endpoints_ops import scrape, value
from tests.test_service_api import subscribe

ANSWERS = "portal_access_answers_total"
HOST_ID = "host-1"
CUSTOMER = "cus_CACHE1"


@pytest.fixture
def cached_app(settings, db, redis_conn):
    app = create_app(dataclasses.replace(settings, access_cache_size=100))
    app.config.update(TESTING=True)
    yield app
    app.extensions["access_cache"].close()


@pytest.fixture
def cache(cached_app) -> AccessCache:
    return cached_app.extensions["access_cache"]


@pytest.fixture
def client(cached_app):
    return cached_app.test_client()


@pytest.fixture
def key(cached_app, settings, client):
    """A write key, and HOST_ID: a customer with an active subscription."""
    made = new_key()
    put_customer(client, made, HOST_ID, "ada@example.com")
    User.update(stripe_customer_id=CUSTOMER).where(User.external_id == HOST_ID).execute()
    subscribe(settings, CUSTOMER)
    return made


def warm(client, cache: AccessCache, key: str) -> dict:
    """Ask until HOST_ID's answer is kept; the answer from memory is the database's, byte for byte."""
    first = get_access(client, key, HOST_ID)  # starts this process's listener
    wait_for(cache.trusted, what="the change feed to be heard")
    wait_for(lambda: get_access(client, key, HOST_ID) and HOST_ID in cache.users, what="the answer to be kept")
    again = get_access(client, key, HOST_ID)
    assert (again.status_code, again.data) == (200, first.data)
    return again.get_json()


def evicted(cache: AccessCache) -> None:
    wait_for(lambda: HOST_ID not in cache.users, what="the change feed to evict the answer")


@postgres_only
def test_answers_come_from_memory_until_the_database_announces_a_change(client, cache, key):
    assert warm(client, cache, key)["has_access"] is True
    before = scrape(client)
    get_access(client, key, HOST_ID)
    after = scrape(client)
    assert [value(after, ANSWERS, source=s) - value(before, ANSWERS, source=s) for s in ("memory", "database")] == [
        1,
        0,
    ]
    database.execute_sql("ALTER TABLE subscription DISABLE TRIGGER portal_access_subscription")
    Subscription.update(status="canceled").execute()
    assert get_access(client, key, HOST_ID).get_json()["has_access"] is True  # unannounced: memory answers
    database.execute_sql("ALTER TABLE subscription ENABLE TRIGGER portal_access_subscription")
    Subscription.update(status="canceled").execute()
    evicted(cache)
    assert get_access(client, key, HOST_ID).get_json()["has_access"] is False


def _new_email():
    User.update(email="grace@example.com").where(User.external_id == HOST_ID).execute()


def _new_subscription():
    Subscription.delete().execute()
    Subscription.insert(id="sub_NEW", customer_id=CUSTOMER, status="trialing", version_created=1).execute()


def _entitlement():
    Entitlement.insert(customer_id=CUSTOMER, feature_id="feat_1", lookup_key="pro-reports").execute()


CHANGES = {
    "email": (_new_email, lambda answer: answer["email"] == "grace@example.com"),
    "subscription replaced": (_new_subscription, lambda answer: answer["subscription"]["status"] == "trialing"),
    "subscription deleted": (lambda: Subscription.delete().execute(), lambda answer: answer["subscription"] is None),
    "subscriptions emptied": (
        lambda: database.execute_sql("TRUNCATE subscription"),
        lambda answer: answer["subscription"] is None,
    ),
    "entitlement": (_entitlement, lambda answer: answer["entitlements"] == ["pro-reports"]),
}


@postgres_only
@pytest.mark.parametrize("change", CHANGES)
def test_every_change_to_what_an_answer_reads_evicts_it(client, cache, key, change):
    make, shows = CHANGES[change]
    before = warm(client, cache, key)
    make()
    evicted(cache)
    after = get_access(client, key, HOST_ID).get_json()
    assert shows(after) and not shows(before)


@postgres_only
def test_a_deleted_user_is_not_found_once_announced(client, cache, key):
    warm(client, cache, key)
    User.delete().where(User.external_id == HOST_ID).execute()
    evicted(cache)
    assert get_access(client, key, HOST_ID).status_code == 404


@postgres_only
def test_a_key_revoked_by_hand_is_refused_once_announced(client, cache, key):
    warm(client, cache, key)
    ApiKey.update(revoked_at=ApiKey.created_at).execute()  # psql, not the command
    wait_for(lambda: not cache.keys, what="the change feed to forget the keys")
    assert get_access(client, key, HOST_ID).status_code == 401


@postgres_only
def test_revoke_returns_only_once_no_process_can_accept_the_key(client, cache, key):
    warm(client, cache, key)
    started = time.monotonic()
    api_keys.revoke(ApiKey.get().id)
    assert time.monotonic() - started >= TRUST_SECONDS  # it waited for the feed, not for a clock in a test
    assert get_access(client, key, HOST_ID).status_code == 401


@postgres_only
def test_a_read_that_raced_a_change_is_not_kept(client, cache, key):
    warm(client, cache, key)
    lookup = api_keys.lookup_of(key)
    epoch = cache.epoch
    read = _read(lookup, HOST_ID)  # what a request read just before ...
    _new_email()  # ... a change committed
    wait_for(lambda: cache.epoch != epoch, what="the change to be heard")
    assert cache.put(epoch, lookup, read[0], HOST_ID, read[1]) is False
    assert get_access(client, key, HOST_ID).get_json()["email"] == "grace@example.com"


@postgres_only
def test_a_lost_feed_empties_the_cache_and_listens_again(client, cache, key):
    warm(client, cache, key)
    listened_on = cache.listener.backend_pid
    database.execute_sql("SELECT pg_terminate_backend(%s)", (listened_on,))
    wait_for(lambda: cache.listener.backend_pid not in (None, listened_on), what="a new listening connection")
    assert HOST_ID not in cache.users  # whatever the lost connection would have said is unknown
    _new_email()  # heard on the new connection
    assert get_access(client, key, HOST_ID).get_json()["email"] == "grace@example.com"
    warm(client, cache, key)


def test_the_sqlite_app_keeps_no_cache(settings, db, redis_conn):
    app = create_app(dataclasses.replace(settings, access_cache_size=100))
    expected_none = settings.database_url.startswith("sqlite")
    assert (app.extensions["access_cache"] is None) is expected_none
    if not expected_none:
        app.extensions["access_cache"].close()


# The cache alone, on a clock of the test's.


def answer_of(customer: str | None) -> tuple:
    return SimpleNamespace(stripe_customer_id=customer), []


def heard_cache(size: int) -> AccessCache:
    cache = AccessCache(size)
    cache.listening()
    cache.heard(time.monotonic())
    return cache


def test_only_a_returned_beat_is_trusted_and_only_for_a_while():
    now = [100.0]
    cache = AccessCache(10, clock=lambda: now[0])
    cache.listening()
    assert cache.put(cache.epoch, "look", ("row",), "a", answer_of("cus_A")) is False  # no beat back yet
    cache.heard(now[0])
    assert cache.put(cache.epoch, "look", ("row",), "a", answer_of("cus_A")) is True
    assert cache.get("look", "a") is not None
    now[0] += TRUST_SECONDS
    assert cache.get("look", "a") is None  # no beat back for too long: the database answers
    cache.heard(now[0] - 0.1)
    assert cache.get("look", "a") is not None  # the same connection: nothing it carried was missed
    cache.heard(now[0] - 5)  # a late beat sent earlier proves less than the last one
    assert cache.heard_at == now[0] - 0.1
    cache.lost()
    assert cache.get("look", "a") is None and not cache.users
    cache.listening()
    assert not cache.trusted()  # a new connection is trusted only once its own beat is back


def test_changes_evict_by_user_by_customer_or_everything():
    cache = heard_cache(10)
    for external_id, customer in (("a", "cus_A"), ("b", "cus_B"), ("c", None)):
        cache.put(cache.epoch, "look", ("row",), external_id, answer_of(customer))
    cache.changed([parse("u:a"), parse("c:cus_B")])
    assert set(cache.users) == {"c"} and not cache.customers
    cache.changed([parse("something someone else sent")])
    assert not cache.users and not cache.keys


def test_the_cache_is_bounded_and_forgets_the_oldest_first():
    cache = heard_cache(2)
    for external_id in ("a", "b", "c"):
        cache.put(cache.epoch, "look", ("row",), external_id, answer_of(f"cus_{external_id}"))
    assert list(cache.users) == ["b", "c"] and set(cache.customers) == {"cus_b", "cus_c"}


def test_payloads_are_parsed_and_anything_else_means_everything():
    assert parse("u:host:1") == Change("user", "host:1")
    assert parse("c:cus_1") == Change("customer", "cus_1")
    assert [parse(text).kind for text in ("*", "", "u:", "x:y", "\x00")] == ["everything"] * 5


@postgres_only
def test_without_every_change_trigger_nothing_is_trusted(client, cache, key, caplog):
    database.execute_sql("DROP TRIGGER portal_access_entitlement ON entitlement")
    with caplog.at_level("WARNING", logger="portal.change_feed"):
        assert get_access(client, key, HOST_ID).status_code == 200  # the database answers
        wait_for(lambda: "run `portal-service db upgrade`" in caplog.text, what="the listener to refuse")
    assert not cache.trusted() and not cache.users


def test_every_table_the_access_check_reads_announces_its_changes():
    read = set(re.findall(r'(?:FROM|JOIN) "(\w+)"', _checked_answer_query().sql()[0]))
    announced = set(
        re.findall(r"AFTER (?:INSERT OR )?(?:UPDATE|DELETE)[\w ]* ON \"?(\w+)", " ".join(trigger_sql("user")))
    )
    assert read and read <= announced
