"""The service API's requests and answers: validated by spectree, and the source of /api/v1/openapi.json."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.accounts.users import EXTERNAL_ID_RULE, MAX_EMAIL_LENGTH, is_valid_email, is_valid_external_id
from shared.billing.sessions import FLOWS

MAX_BATCH = 1000


def _external_id(value: str) -> str:
    if not is_valid_external_id(value):
        raise ValueError(EXTERNAL_ID_RULE)
    return value


def _email(value: str) -> str:
    if not is_valid_email(value):
        raise ValueError("must be a valid email address")
    return value


ExternalId = Annotated[str, AfterValidator(_external_id)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CustomerBody(Request):
    email: Annotated[str, Field(max_length=MAX_EMAIL_LENGTH), AfterValidator(_email)]


class BatchBody(Request):
    external_ids: Annotated[list[ExternalId], Field(max_length=MAX_BATCH)]


class PortalSessionBody(Request):
    flow: Literal[FLOWS] | None = None  # type: ignore[valid-type]  # FLOWS is a fixed tuple of names


class CheckoutSessionBody(Request):
    price: Annotated[str, Field(min_length=1, max_length=255)]


class SubscriptionState(BaseModel):
    """The same fields as /api/billing/status's ``subscription``."""

    id: str
    status: str
    price_id: str | None
    product_id: str | None
    quantity: int | None
    cancel_at_period_end: bool
    cancel_at: str | None
    canceled_at: str | None
    current_period_end: str | None
    trial_end: str | None
    grants_access: bool
    latest_invoice_status: str | None


class Access(BaseModel):
    """Who a host app's user is here and what they may use. ``version`` grows with every change."""

    external_id: str
    email: str
    has_access: bool
    stripe_customer_id: str | None
    subscription: SubscriptionState | None
    entitlements: list[str]
    version: int


class BatchAnswer(BaseModel):
    results: dict[str, Access | None]


class SessionUrl(BaseModel):
    url: str


class Error(BaseModel):
    error: str
