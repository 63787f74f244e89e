"""The signed-in user's billing state, as JSON."""
from __future__ import annotations

from flask import Blueprint, current_app
from flask_login import current_user, login_required

from shared.billing_status import billing_status

bp = Blueprint("billing_api", __name__)


@bp.get("/api/billing/status")
@login_required
def status():
    settings = current_app.config["SETTINGS"]
    return billing_status(current_user.user, settings.past_due_grace_days)
