"""Multi-row statements whose SQL text is built once per shape.

Building the text of a 200-row INSERT was most of a batch's cost in peewee
(docs/benchmarks.md), yet that text depends only on the statement, the number
of rows and the database's dialect. So the first statement of a shape is built
by peewee as usual and its text remembered; later ones only supply values,
converted by each field's own ``db_value`` exactly as peewee would.
"""
from __future__ import annotations

from typing import Callable

from peewee import Insert, Model

from shared.db import database

_texts: dict[tuple, tuple[str, list]] = {}


def insert_rows(name: str, model: type[Model], rows: list[Model], finish: Callable[[Insert], Insert]) -> None:
    """INSERT every column of ``rows``; ``finish`` adds the ON CONFLICT clause."""
    if not rows:
        return
    fields = model._meta.sorted_fields
    values = [tuple(row.__data__.get(field.name) for field in fields) for row in rows]
    key = (name, len(values), type(database.obj))
    known = _texts.get(key)
    if known is None:
        sql, params = finish(model.insert_many(values, fields=fields)).sql()
        _texts[key] = known = (sql, params[len(values) * len(fields):])
        database.execute_sql(sql, params)
        return
    sql, constants = known
    params = [field.db_value(value) for row in values for field, value in zip(fields, row)]
    database.execute_sql(sql, params + constants)
