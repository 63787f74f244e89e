"""The ``/v2`` routes the sandbox needs: retrieving a thin event (``GET /v2/core/events/{id}``).

stripe-python's ``EventNotification.fetch_event()`` calls it; the answer names
the snapshot twin in ``snapshot_event``. A v2 event stored as it is in the
``thin_events`` collection is answered as stored: an event with no snapshot
twin, as Stripe's v2 APIs emit, or whatever odd answer a test wants.
"""

from flask import Blueprint

from . import thin
from .api_support import api_error, authenticate, json_response, reset_context, store
from .errors import ApiError, missing

bp = Blueprint("api_v2", __name__, url_prefix="/v2")
bp.before_request(authenticate)
bp.teardown_request(reset_context)
bp.register_error_handler(ApiError, api_error)


@bp.get("/core/events/<eid>")
def retrieve_event(eid: str):
    twin = thin.snapshot_id(eid)
    with store().lock:
        stored = store().collections["thin_events"].get(eid)
        if stored is not None:
            return json_response(stored)
        event = store().collections["events"].get(twin) if twin else None
        if event is None:
            raise missing("event", eid)
        return json_response(thin.fetched(event))
