"""Settings recorded in the database by operator commands, read by both processes.

The environment wins where it names the same thing: an operator can pin a
value in .env without touching the database.
"""

from __future__ import annotations

from shared.infra.models import Setting
from shared.infra.settings import Settings
from shared.infra.timeutil import utcnow

PORTAL_CONFIGURATION = "portal_configuration_id"


def get(key: str) -> str | None:
    row = Setting.get_or_none(Setting.key == key)
    return row.value if row else None


def put(key: str, value: str) -> None:
    Setting.insert(key=key, value=value, updated_at=utcnow()).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: value, Setting.updated_at: utcnow()}
    ).execute()


def portal_configuration_id(settings: Settings) -> str | None:
    """The configuration portal sessions open with: PORTAL_CONFIGURATION_ID, else the one
    `portal-config apply` recorded, else None (Stripe's default configuration)."""
    return settings.portal_configuration_id or get(PORTAL_CONFIGURATION)
