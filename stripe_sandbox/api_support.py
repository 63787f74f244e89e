"""Plumbing for the ``/v1`` routes: auth, params, idempotency, errors."""

import functools
import hashlib
import json

from flask import Blueprint, Response, current_app, g, request

from . import forms, ids
from .errors import ApiError
from .params import check
from .store import Store, check_expand, current_request

bp = Blueprint("api", __name__, url_prefix="/v1")

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the "
    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
    "YOUR_SECRET_KEY')."
)


RATE_LIMITED = "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."


def sandbox():
    return current_app.extensions["stripe_sandbox"]


def store():
    return sandbox().store


def json_response(body: dict, status: int = 200) -> Response:
    # Compact JSON keeps the C encoder: indenting is several times slower.
    response = Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")
    response.headers["Request-Id"] = g.get("request_id", "")
    return response


def route(rule: str, method: str, fields: dict):
    """Register ``view(store, params, **url_args)``; its dict becomes JSON."""

    def register(view):
        @functools.wraps(view)
        def handler(**url_args):
            params = check(_decoded_params(), fields)
            with sandbox().lock:
                return json_response(view(store(), params, **url_args))

        bp.add_url_rule(rule, view.__name__, handler, methods=[method])
        return view

    return register


def _decoded_params() -> dict:
    try:
        pairs = list(request.args.items(multi=True))
        if request.method == "POST":
            pairs += list(request.form.items(multi=True))
        return forms.decode(pairs)
    except forms.FormError as error:
        raise ApiError(str(error), param=error.param) from None


# -- auth and request context ---------------------------------------------------
@bp.before_request
def authenticate():
    g.request_id = ids.new_id("req", 14)
    if not sandbox().rate_limit.allow():
        raise ApiError(RATE_LIMITED, status=429, code="rate_limit")
    key = _api_key()
    if not key:
        raise ApiError(NO_KEY, status=401)
    if not key.startswith("sk_test_"):
        raise ApiError(f"Invalid API Key provided: {_redacted(key)}", status=401)
    g.context_token = current_request.set(
        {"id": g.request_id, "idempotency_key": request.headers.get("Idempotency-Key")}
    )
    return _replay_if_idempotent()


def _api_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    if request.authorization and request.authorization.username:
        return request.authorization.username  # curl -u sk_test_...:
    return None


def _redacted(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]


@bp.teardown_request
def reset_context(_error=None):
    token = g.pop("context_token", None)
    if token is not None:
        current_request.reset(token)


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    return json_response(error.body(), error.status)


# -- idempotency ----------------------------------------------------------------
def _fingerprint() -> str:
    raw = request.method + request.path + request.get_data(cache=True, as_text=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay_if_idempotent():
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return None
    # Read the body before form parsing consumes the stream.
    g.fingerprint = _fingerprint()
    with sandbox().lock:
        seen = store().replays.get(key)
    if seen is None:
        g.idempotency_key = key
        return None
    fingerprint, status, body = seen
    if fingerprint != g.fingerprint:
        raise ApiError(
            "Keys for idempotent requests can only be used with the same parameters "
            f"they were first used with. Try using a key other than '{key}' if you "
            "meant to execute a different request.",
            type="idempotency_error",
        )
    response = json_response(json.loads(body), status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.after_request
def remember_for_replay(response: Response) -> Response:
    key = g.pop("idempotency_key", None)
    # Stripe does not save 5xx results: the request may be retried as new.
    if key and response.status_code < 500:
        with sandbox().lock:
            store().remember_reply(key, (g.fingerprint, response.status_code, response.get_data(as_text=True)))
    return response


# -- answering with expansions ------------------------------------------------
def one(store: Store, obj: dict, params: dict, allowed=(), virtual=None) -> dict:
    """``obj`` as JSON-ready data with the requested expansions.

    ``virtual`` maps fields that exist only when expanded (``line_items``,
    ``subscriptions``) to builders taking ``obj``.
    """
    virtual = virtual or {}
    paths = check_expand(params.get("expand", []), allowed)
    result = store.expand(obj, [p for p in paths if p.split(".")[0] not in virtual])
    for path in paths:
        head, _, rest = path.partition(".")
        if head in virtual:
            result[head] = store.expand(virtual[head](obj), [rest] if rest else [])
    return result


def page(store: Store, items: list[dict], params: dict, url: str, allowed=()) -> dict:
    paths = check_expand(params.get("expand", []), allowed)
    return store.page(items, params, url, view=lambda o: store.expand(o, [p.removeprefix("data.") for p in paths]))
