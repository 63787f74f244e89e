"""Reused bulk SQL stores exactly what peewee's own statement would."""

from __future__ import annotations

from datetime import datetime

from shared.infra import bulk
from shared.infra.models import Subscription


def upsert(rows):
    bulk.insert_rows(
        "test upsert",
        Subscription,
        rows,
        lambda insert: insert.on_conflict(
            conflict_target=[Subscription.id], preserve=[f for f in Subscription._meta.sorted_fields if f.name != "id"]
        ),
    )


def sub(sub_id, **fields):
    return Subscription(id=sub_id, customer_id="cus_B", **fields)


def stored(sub_id):
    row = Subscription.get_by_id(sub_id)
    return (row.status, row.cancel_at_period_end, row.cancel_at, row.quantity, row.fetched_at, row.version_created)


def test_the_second_statement_of_a_shape_reuses_the_text_and_stores_the_same_values(db):
    upsert([sub("sub_1", status="active"), sub("sub_2", status="trialing")])  # builds and remembers the text
    moment = datetime(2027, 1, 2, 3, 4, 5)
    upsert(
        [  # same shape: two rows; only values are supplied now
            sub(
                "sub_1",
                status="canceled",
                cancel_at_period_end=True,
                cancel_at=moment,
                quantity=3,
                fetched_at=1.5,
                version_created=42,
            ),
            sub("sub_3", status=None, quantity=None),
        ]
    )
    assert stored("sub_1") == ("canceled", True, moment, 3, 1.5, 42)
    assert stored("sub_2") == ("trialing", False, None, None, None, 0)
    assert stored("sub_3") == (None, False, None, None, None, 0)


def test_statements_of_any_length_share_one_text_identical_to_peewees(db):
    fields = Subscription._meta.sorted_fields
    preserve = [f for f in fields if f.name != "id"]
    upsert([sub("sub_1", status="active")])
    template = bulk._templates[("test upsert", type(bulk.database.obj))]
    for rows in (1, 2, 7, 200):
        values = [tuple(None for _ in fields)] * rows
        peewee_sql, _ = (
            Subscription.insert_many(values, fields=fields)
            .on_conflict(conflict_target=[Subscription.id], preserve=preserve)
            .sql()
        )
        assert template.sql(rows) == peewee_sql


def test_batches_of_different_lengths_store_every_row(db):
    for batch, status in (([1, 2, 3], "active"), ([2], "past_due"), ([1, 3, 4, 5, 6], "canceled")):
        upsert([sub(f"sub_{n}", status=status, quantity=n) for n in batch])
    assert {row.id: (row.status, row.quantity) for row in Subscription.select()} == {
        "sub_1": ("canceled", 1),
        "sub_2": ("past_due", 2),
        "sub_3": ("canceled", 3),
        "sub_4": ("canceled", 4),
        "sub_5": ("canceled", 5),
        "sub_6": ("canceled", 6),
    }
