"""``/_sandbox`` routes: test controls that Stripe itself does not have."""

from flask import Blueprint, current_app, jsonify, request

from . import delivery
from .errors import ApiError

bp = Blueprint("control", __name__, url_prefix="/_sandbox")


def _sandbox():
    return current_app.extensions["stripe_sandbox"]


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    return jsonify(error.body()), error.status


@bp.errorhandler(ValueError)
def bad_value(error: ValueError):
    return jsonify({"error": {"type": "invalid_request_error", "message": str(error)}}), 400


@bp.get("")
def summary():
    sandbox = _sandbox()
    with sandbox.lock:
        counts = {name: len(items) for name, items in sandbox.store.collections.items()}
    return jsonify(
        {
            "now": sandbox.clock.now(),
            "clock_offset": sandbox.clock.offset,
            "objects": counts,
            "delivery": sandbox.dispatcher.counts(),
            "prices": {p["lookup_key"]: p["id"] for p in sandbox.store.all("prices")},
        }
    )


@bp.post("/reset")
def reset():
    _sandbox().reset()
    return summary()


@bp.get("/clock")
def clock():
    sandbox = _sandbox()
    return jsonify({"now": sandbox.clock.now(), "offset": sandbox.clock.offset})


@bp.post("/clock/advance")
def advance_clock():
    seconds = _body().get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError('give a whole, non-negative number of seconds: {"seconds": N}')
    events = _sandbox().advance_clock(seconds)
    return jsonify({"now": _sandbox().clock.now(), "events": [{"id": e["id"], "type": e["type"]} for e in events]})


@bp.post("/subscriptions")
def create_subscription():
    body = _body()
    if not body.get("customer_email") or not body.get("price"):
        raise ValueError("customer_email and price (lookup key or price id) are required")
    created = _sandbox().create_subscription(
        body["customer_email"],
        body["price"],
        trial_days=body.get("trial_days"),
        client_reference_id=body.get("client_reference_id"),
    )
    return jsonify(created)


@bp.post("/subscriptions/<sid>/fail_payment")
def fail_payment(sid):
    invoice = _sandbox().fail_payment(sid)
    return jsonify({"invoice": invoice})


# -- webhooks -----------------------------------------------------------------
@bp.post("/webhook_endpoints")
def add_webhook_endpoint():
    body = _body()
    if not body.get("url"):
        raise ValueError("url is required")
    endpoint = _sandbox().add_webhook_endpoint(body["url"], body.get("secret"), body.get("style", "snapshot"))
    return jsonify(vars(endpoint))


@bp.get("/webhook_endpoints")
def list_webhook_endpoints():
    return jsonify([vars(e) for e in _sandbox().dispatcher.endpoints.values()])


@bp.delete("/webhook_endpoints/<endpoint_id>")
def remove_webhook_endpoint(endpoint_id):
    return jsonify({"id": endpoint_id, "deleted": _sandbox().dispatcher.remove_endpoint(endpoint_id)})


@bp.get("/delivery")
def show_delivery():
    return jsonify(_delivery_state())


@bp.post("/delivery")
def configure_delivery():
    _sandbox().dispatcher.configure(**_body())
    return jsonify(_delivery_state())


@bp.post("/reset_delivery")
def reset_delivery():
    _sandbox().dispatcher.reset_faults()
    return jsonify(_delivery_state())


@bp.post("/delivery/flush")
def flush_delivery():
    released = _sandbox().dispatcher.flush()
    return jsonify({"released": released, **_delivery_state()})


@bp.post("/deliveries/wait")
def wait_for_deliveries():
    timeout = _body().get("timeout", 10)
    if not isinstance(timeout, (int, float)) or not 0 <= timeout <= 60:
        raise ValueError("timeout must be a number of seconds between 0 and 60")
    idle = _sandbox().wait_for_deliveries(timeout)
    return jsonify({"idle": idle, **_delivery_state()}), 200 if idle else 408


def _delivery_state() -> dict:
    dispatcher = _sandbox().dispatcher
    return {
        "faults": vars(dispatcher.faults),
        "retry_delays": dispatcher.retry_delays,
        "limits": {
            "duplicate": delivery.MAX_DUPLICATE,
            "delay_seconds": delivery.MAX_DELAY_SECONDS,
            "fail_next": delivery.MAX_FAIL_NEXT,
        },
        **dispatcher.counts(),
    }


@bp.get("/rate_limit")
def show_rate_limit():
    return jsonify(_sandbox().rate_limit.state())


@bp.post("/rate_limit")
def configure_rate_limit():
    """``{"per_second": N}`` answers 429 above N API requests a second; null lifts it; counts restart."""
    limit = _sandbox().rate_limit
    limit.configure(_body().get("per_second"))
    limit.reset_counts()
    return jsonify(limit.state())


@bp.get("/events")
def list_events():
    sandbox = _sandbox()
    wanted = request.args.get("type")
    events = [
        {
            "id": e["id"],
            "type": e["type"],
            "created": e["created"],
            "object_id": e["data"]["object"].get("id"),
            **sandbox.dispatcher.status(e["id"]),
        }
        for e in sandbox.events(wanted)
    ]
    return jsonify({"data": events})
