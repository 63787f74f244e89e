"""The service API, /api/v1/: the host app's backend provisions users, asks who has access, opens Stripe pages.

Every route needs ``Authorization: Bearer psk_...`` (shared.accounts.api_keys);
keys never open a browser session, and no cookie opens this API. Requests and
answers are the pydantic models of portal_service.api_models, validated by
spectree, which also serves them as /api/v1/openapi.json.
"""

from __future__ import annotations

import functools
import logging

import stripe
from flask import Blueprint, g, jsonify, request
from spectree import Response, SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData
from spectree.plugins.flask_plugin import FlaskPlugin

from portal_service.api_models import (
    Access,
    BatchAnswer,
    BatchBody,
    CheckoutSessionBody,
    CustomerBody,
    Error,
    PortalSessionBody,
    SessionUrl,
)
from portal_service.errors import error_response
from portal_service.extensions import api_key_usage, csrf, plan_catalog, settings, stripe_client
from shared.accounts import api_keys
from shared.accounts.users import EXTERNAL_ID_RULE, AccountError, is_valid_external_id, upsert_external_user
from shared.billing.sessions import AlreadySubscribed, BillingRefusal, open_checkout, open_portal
from shared.billing.status import access_answers
from shared.infra.models import User

PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
log = logging.getLogger("portal.api")
bp = Blueprint("service_api", __name__, url_prefix=PREFIX)
csrf.exempt(bp)  # no cookie opens this API, so no cross-site form can use it


def validation_refused(req, resp, req_validation_error, instance, model_adapter) -> None:
    """spectree's refusal, reworded as this API's error: the first problem, naming its field."""
    if req_validation_error is None:
        return
    first = req_validation_error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    resp.set_data(jsonify(error=f"{field}: {first['msg']}").get_data())


class ApiRoutes(FlaskPlugin):
    """spectree skips every route under its document's folder; ours share it (/api/v1/openapi.json)."""

    def find_routes(self):
        for rule in self.get_current_app().url_map.iter_rules():
            if rule.rule.startswith(PREFIX + "/") and rule.rule != self.config.spec_url:
                yield rule


spec = SpecTree(
    backend=ApiRoutes,
    mode="strict",
    path=PREFIX.strip("/"),
    title="portal-service API",
    version="1",
    page_templates={},
    validation_error_status=400,
    before=validation_refused,
    security_schemes=[SecurityScheme(name="apiKey", data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer"))],
    security={"apiKey": []},
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)
WRITE_REFUSALS = (400, 401, 403, 413, 415)


def answers(*refusals: int, **models) -> Response:
    """The documented answers of a route: its models by status, and an Error for each refusal."""
    return Response(**models, **{f"HTTP_{status}": Error for status in refusals})


@bp.before_request
def authenticate():
    request.max_content_length = MAX_BODY_BYTES
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    caller = api_keys.authenticate(presented.strip()) if scheme.lower() == "bearer" else None
    if caller is None:
        return error_response(401, "A valid API key is required: Authorization: Bearer psk_...")
    g.api_caller = caller
    api_key_usage().seen(caller.key_id)
    if request.method in ("POST", "PUT"):
        return _refuse_unreadable_body()
    return None


def _refuse_unreadable_body():
    """spectree reads a body that is not JSON as {}: say what is wrong instead of "field required"."""
    if not request.is_json:
        return error_response(415, "Send the body as JSON (Content-Type: application/json)")
    if request.get_json(silent=True) is None:
        return error_response(400, "The body is not valid JSON")
    return None


def write_scope(view):
    """Refuse a read-only key (403) before the body is looked at."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not g.api_caller.may_write():
            return error_response(403, "This API key may only read: create one with --scope write")
        return view(*args, **kwargs)

    return checked


@bp.put("/customers/<path:external_id>")
@write_scope
@spec.validate(json=CustomerBody, resp=answers(*WRITE_REFUSALS, HTTP_200=Access, HTTP_201=Access))
def put_customer(external_id: str, json: CustomerBody):
    """Create or update the host app's user ``external_id`` (201 when created)."""
    try:
        _, created = upsert_external_user(external_id, json.email)
    except AccountError as exc:
        return error_response(400, str(exc))
    return _answer_of(external_id), 201 if created else 200


@bp.get("/customers/<path:external_id>/access")
@spec.validate(resp=answers(400, 401, 404, HTTP_200=Access))
def get_access(external_id: str):
    """What the user may use: ``has_access``, the subscription and entitlements, and the answer's version."""
    if not is_valid_external_id(external_id):
        return error_response(400, "external_id: " + EXTERNAL_ID_RULE)
    answer = _answer_of(external_id)
    return answer if answer is not None else error_response(404, f"No user with external id {external_id!r}")


@bp.post("/access/batch")
@spec.validate(json=BatchBody, resp=answers(400, 401, 413, 415, HTTP_200=BatchAnswer))
def access_batch(json: BatchBody):
    """Access answers of up to 1,000 users in one call; null for an unknown external id."""
    return {"results": access_answers(json.external_ids, settings().past_due_grace_days)}


@bp.post("/customers/<path:external_id>/portal-session")
@write_scope
@spec.validate(json=PortalSessionBody, resp=answers(*WRITE_REFUSALS, 404, 502, HTTP_200=SessionUrl))
def portal_session(external_id: str, json: PortalSessionBody):
    """A Stripe Customer Portal session for the user, optionally deep-linked to a flow."""
    return _open(external_id, "portal", lambda client, user: open_portal(client, settings(), user, json.flow))


@bp.post("/customers/<path:external_id>/checkout-session")
@write_scope
@spec.validate(json=CheckoutSessionBody, resp=answers(*WRITE_REFUSALS, 404, 502, HTTP_200=SessionUrl))
def checkout_session(external_id: str, json: CheckoutSessionBody):
    """A Checkout session for one of the configured plans; a subscribed user gets the portal instead."""

    def start(client, user):
        try:
            return open_checkout(client, settings(), plan_catalog(), user, json.price)
        except AlreadySubscribed:
            return open_portal(client, settings(), user)

    return _open(external_id, "checkout", start)


def _answer_of(external_id: str) -> dict | None:
    return access_answers([external_id], settings().past_due_grace_days)[external_id]


def _open(external_id: str, what: str, make_url):
    user = User.get_or_none(User.external_id == external_id)
    if user is None:
        return error_response(404, f"No user with external id {external_id!r}")
    try:
        return {"url": make_url(stripe_client(), user)}
    except BillingRefusal as exc:
        return error_response(400, str(exc))
    except stripe.StripeError as exc:
        log.error("stripe refused to open %s for external id %r: %s", what, external_id, type(exc).__name__)
        return error_response(502, f"Stripe could not open the {what} just now. Please try again.")


def init_app(app) -> None:
    app.register_blueprint(bp)
    spec.register(app)
