"""Multi-row statements whose SQL text is built once per statement.

Building the text of a 200-row INSERT is most of a batch's cost in peewee,
yet that text depends only on the statement, the
database's dialect and the number of rows, and only through its VALUES list,
which repeats one placeholder group per row. So peewee builds each statement's
text once, for one row; later statements of any length repeat its group and
only supply values, converted by each field's own ``db_value`` exactly as
peewee would. The repeat is checked once against peewee's own two-row text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from peewee import Insert, Model

from shared.infra.db import database


@dataclass(frozen=True)
class Template:
    head: str  # up to the VALUES list
    group: str  # one row's placeholders: "(?, ?, ...)"
    tail: str  # the ON CONFLICT clause, if any
    constants: list  # parameters of head and tail (the conflict clause's own values)

    def sql(self, rows: int) -> str:
        return self.head + ", ".join([self.group] * rows) + self.tail


_templates: dict[tuple, Template] = {}


def insert_rows(name: str, model: type[Model], rows: Sequence[Model], finish: Callable[[Insert], Insert]) -> None:
    """INSERT every column of ``rows``; ``finish`` adds the ON CONFLICT clause."""
    if not rows:
        return
    fields = model._meta.sorted_fields
    key = (name, type(database.obj))
    template = _templates.get(key) or _templates.setdefault(key, _template(model, fields, finish))
    params = [field.db_value(row.__data__.get(field.name)) for row in rows for field in fields]
    database.execute_sql(template.sql(len(rows)), params + template.constants)


def _template(model: type[Model], fields: list, finish: Callable[[Insert], Insert]) -> Template:
    def text(rows: int) -> tuple[str, list]:
        return finish(model.insert_many([tuple(None for _ in fields)] * rows, fields=fields)).sql()

    one, params = text(1)
    group = "(" + ", ".join([database.param] * len(fields)) + ")"
    head, found, tail = one.partition(" VALUES " + group)
    template = Template(head + " VALUES ", group, tail, params[len(fields) :])
    if not found or template.sql(2) != text(2)[0]:
        raise RuntimeError(f"cannot reuse the text of {one!r}: its VALUES list is not one group per row")
    return template
