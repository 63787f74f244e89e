"""Reused bulk SQL stores exactly what peewee's own statement would."""
from __future__ import annotations

from datetime import datetime

from shared import bulk
from shared.models import Subscription


def upsert(rows):
    bulk.insert_rows("test upsert", Subscription, rows, lambda insert: insert.on_conflict(
        conflict_target=[Subscription.id], preserve=[f for f in Subscription._meta.sorted_fields if f.name != "id"]))


def sub(sub_id, **fields):
    return Subscription(id=sub_id, customer_id="cus_B", **fields)


def stored(sub_id):
    row = Subscription.get_by_id(sub_id)
    return (row.status, row.cancel_at_period_end, row.cancel_at, row.quantity, row.fetched_at, row.version_created)


def test_the_second_statement_of_a_shape_reuses_the_text_and_stores_the_same_values(db):
    upsert([sub("sub_1", status="active"), sub("sub_2", status="trialing")])  # builds and remembers the text
    moment = datetime(2027, 1, 2, 3, 4, 5)
    upsert([  # same shape: two rows; only values are supplied now
        sub("sub_1", status="canceled", cancel_at_period_end=True, cancel_at=moment, quantity=3,
            fetched_at=1.5, version_created=42),
        sub("sub_3", status=None, quantity=None),
    ])
    assert stored("sub_1") == ("canceled", True, moment, 3, 1.5, 42)
    assert stored("sub_2") == ("trialing", False, None, None, None, 0)
    assert stored("sub_3") == (None, False, None, None, None, 0)
