"""Numbered schema migrations, applied once each by ``db upgrade``.

Running the command again is harmless: applied versions are recorded in
``schema_migration`` and skipped. Concurrent runs (two release phases) are
serialised by the database's write lock.
"""

from __future__ import annotations

from collections.abc import Callable

from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as alter

from shared.infra import change_feed, models
from shared.infra.db import database, is_postgres, write_transaction


def _initial_schema() -> None:
    database.create_tables(models.ALL_MODELS, safe=True)


def _settings_table() -> None:
    database.create_tables([models.Setting], safe=True)


def _user_external_id() -> None:
    """Add ``user.external_id`` and its unique index, unless a fresh migration 1 already made them."""
    table = models.User._meta.table_name
    migrator = SchemaMigrator.from_database(database)
    if "external_id" not in {column.name for column in database.get_columns(table)}:
        alter(migrator.add_column(table, "external_id", models.User.external_id))
    if "user_external_id" not in {index.name for index in database.get_indexes(table)}:
        alter(migrator.add_index(table, ("external_id",), unique=True))


def _service_api() -> None:
    """Add ``user.access_version`` and the ``api_key`` table, unless a fresh migration 1 already made them."""
    table = models.User._meta.table_name
    if "access_version" not in {column.name for column in database.get_columns(table)}:
        alter(SchemaMigrator.from_database(database).add_column(table, "access_version", models.User.access_version))
    database.create_tables([models.ApiKey], safe=True)


def _host_notifications() -> None:
    database.create_tables([models.HostNotification], safe=True)


def _entitlements() -> None:
    database.create_tables([models.CustomerEntitlements, models.Entitlement], safe=True)


def _access_change_feed() -> None:
    """PostgreSQL: triggers that announce, at commit, which access answers a write changed."""
    if is_postgres():
        for statement in change_feed.trigger_sql(models.User._meta.table_name):
            database.execute_sql(statement)


MIGRATIONS: list[tuple[int, str, Callable[[], None]]] = [
    (1, "users, subscriptions and the event ledger", _initial_schema),
    (2, "settings recorded by operator commands", _settings_table),
    (3, "users from the host app: user.external_id", _user_external_id),
    (4, "the service API: api_key, user.access_version", _service_api),
    (5, "notifications to the host app: host_notification", _host_notifications),
    (6, "Stripe entitlements: entitlement, customer_entitlements", _entitlements),
    (7, "the access change feed: triggers on PostgreSQL", _access_change_feed),
]
LATEST_VERSION = MIGRATIONS[-1][0]


def applied_versions() -> set[int]:
    if not database.table_exists(models.SchemaMigration._meta.table_name):
        return set()
    return {row.version for row in models.SchemaMigration.select()}


def pending() -> list[tuple[int, str]]:
    done = applied_versions()
    return [(version, name) for version, name, _ in MIGRATIONS if version not in done]


def upgrade() -> list[tuple[int, str]]:
    """Apply every pending migration; return the ones applied by this call."""
    database.create_tables([models.SchemaMigration], safe=True)
    applied = []
    for version, name, migrate in MIGRATIONS:
        with write_transaction():
            if is_postgres():
                database.execute_sql("SELECT pg_advisory_xact_lock(727272)")
            if models.SchemaMigration.get_or_none(version=version):
                continue
            migrate()
            models.SchemaMigration.create(version=version, name=name)
            applied.append((version, name))
    return applied
