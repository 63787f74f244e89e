"""Tables. Schema changes go through shared.infra.migrations, never create_tables on import."""

from __future__ import annotations

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    DoubleField,
    IntegerField,
    Model,
    TextField,
)

from shared.infra.db import database
from shared.infra.timeutil import utcnow


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class User(BaseModel):
    id = AutoField()  # what peewee adds implicitly, spelled out for the type checker
    email = CharField(unique=True, max_length=254)  # stored lower-cased
    password_hash = CharField(max_length=255)  # "" for users from the host app: no local password
    external_id = CharField(null=True, unique=True, max_length=255)  # the host app's user id (migration 3)
    stripe_customer_id = CharField(null=True, unique=True, max_length=255)
    created_at = DateTimeField(default=utcnow)
    # Grows whenever this user's access answer changes (migration 4): bump_access_versions.
    access_version = BigIntegerField(default=1)


class Subscription(BaseModel):
    """The newest known state of one Stripe subscription.

    ``version_created`` is the ``created`` second of the event whose snapshot
    (or whose tie-break fetch) produced this row; ``fetched_at`` is when the row
    was last read from Stripe's API. Together they decide whether a late event
    is older than what we hold (see shared.sync.ordering).
    """

    id = CharField(primary_key=True, max_length=255)
    customer_id = CharField(index=True, max_length=255)
    status = CharField(null=True, max_length=32)
    price_id = CharField(null=True, max_length=255)
    product_id = CharField(null=True, max_length=255)
    quantity = IntegerField(null=True)
    cancel_at_period_end = BooleanField(default=False)
    cancel_at = DateTimeField(null=True)
    canceled_at = DateTimeField(null=True)
    ended_at = DateTimeField(null=True)
    current_period_start = DateTimeField(null=True)
    current_period_end = DateTimeField(null=True)
    trial_end = DateTimeField(null=True)
    created = DateTimeField(null=True)
    latest_invoice_id = CharField(null=True, max_length=255)
    latest_invoice_status = CharField(null=True, max_length=32)
    invoice_version_created = BigIntegerField(default=0)
    version_created = BigIntegerField(default=0)
    fetched_at = DoubleField(null=True)
    updated_at = DateTimeField(default=utcnow)


# The subscription columns an access answer (shared.billing.status) is made of or chosen by:
# a change to one of them bumps the user's access_version (shared.sync.locked_rows).
ANSWERED_SUBSCRIPTION_COLUMNS = (
    "id",
    "customer_id",
    "status",
    "price_id",
    "product_id",
    "quantity",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "current_period_start",
    "current_period_end",
    "trial_end",
    "created",
    "latest_invoice_status",
)


class StripeEvent(BaseModel):
    """The event ledger: one row per Stripe event id, written with its effect."""

    APPLIED = "applied"
    IGNORED = "ignored"
    FAILED = "failed"

    id = CharField(primary_key=True, max_length=255)
    type = CharField(max_length=128)
    created = BigIntegerField()
    customer_id = CharField(null=True, index=True, max_length=255)
    received_at = DateTimeField()
    processed_at = DateTimeField(null=True)
    outcome = CharField(max_length=16, index=True)
    note = TextField(null=True)
    error = TextField(null=True)
    attempts = IntegerField(default=0)


class SchemaMigration(BaseModel):
    version = IntegerField(primary_key=True)
    name = CharField(max_length=255)
    applied_at = DateTimeField(default=utcnow)


class Setting(BaseModel):
    """Values an operator command records for both processes to read (migration 2)."""

    key = CharField(primary_key=True, max_length=100)
    value = TextField()
    updated_at = DateTimeField(default=utcnow)


class ApiKey(BaseModel):
    """A key of the service API (migration 4). Only a hash of the secret is kept.

    A key reads ``psk_<lookup><secret>``: ``lookup`` finds the row, the SHA-256
    of the whole key is then compared in constant time (shared.accounts.api_keys).
    """

    id = AutoField()
    name = CharField(max_length=100)
    scope = CharField(max_length=16)
    lookup = CharField(unique=True, max_length=32)
    key_hash = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)


class HostNotification(BaseModel):
    """The host app's news of one user (migration 5): one row per user, its newest access version.

    Written in the transaction that changed the answer (shared.infra.access_changes);
    delivered by RQ jobs (shared.billing.host_notifications). A newer version replaces
    one not yet delivered; ``claim`` marks the one job sending it, until ``next_attempt_at``.
    """

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

    id = AutoField()
    user_id = IntegerField(unique=True)
    version = BigIntegerField()
    state = CharField(max_length=16)
    pending_since = DateTimeField(null=True)
    next_attempt_at = DateTimeField()
    attempts = IntegerField(default=0)
    claim = CharField(null=True, max_length=32)
    last_error = TextField(null=True)
    delivered_version = BigIntegerField(null=True)
    delivered_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("state", "next_attempt_at"), False),)


class CustomerEntitlements(BaseModel):
    """How new a customer's stored entitlement set is (migration 6).

    Like ``Subscription.version_created`` and ``fetched_at``: the ``created``
    second of the summary event the set came from, and when it was last read
    from Stripe's API; shared.sync.ordering decides with them.
    """

    customer_id = CharField(primary_key=True, max_length=255)
    version_created = BigIntegerField(default=0)
    fetched_at = DoubleField(null=True)
    updated_at = DateTimeField(default=utcnow)


class Entitlement(BaseModel):
    """One active entitlement of a Stripe customer (migration 6); a customer's set is replaced whole."""

    id = AutoField()
    customer_id = CharField(max_length=255)
    feature_id = CharField(max_length=255)
    lookup_key = CharField(max_length=255)

    class Meta:
        indexes = ((("customer_id", "feature_id"), True),)


ALL_MODELS = (User, Subscription, StripeEvent)  # the tables of migration 1
