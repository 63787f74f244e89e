"""GET /auth/handoff: sign-in by a token from the host app (the rules: shared.accounts.handoff).

Every refusal is a 401 page saying why, creates no user and no session, and is
counted in /metrics (portal_handoff_total{outcome}).
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, abort, redirect, render_template, request

from portal_service.auth import HOME, SessionStoreDown, safe_next, start_session
from portal_service.extensions import redis_client, settings
from shared.accounts import handoff
from shared.accounts.users import AccountError, EmailOfAnotherUser, upsert_external_user
from shared.infra.models import User
from shared.ops import metrics

bp = Blueprint("handoff", __name__)
log = logging.getLogger("portal.handoff")


@bp.get("/auth/handoff")
def sign_in():
    config = settings()
    if "handoff" not in config.sign_in_modes or not config.handoff_secrets:
        # 404, not 503: on this deployment the route does not exist, and no retry will make it.
        metrics.count_handoff("disabled")
        abort(404)
    try:
        verified, user = _accept(request.args.get("token"), config.handoff_secrets)
    except handoff.HandoffRefused as refused:
        metrics.count_handoff(refused.outcome)
        log.info("hand-off refused: %s", refused.outcome)
        return render_template("handoff_refused.html", message=refused.message), 401
    start_session(user)
    metrics.count_handoff("signed_in")
    return redirect(verified.next or HOME, code=303)


def _accept(token: str | None, secrets: tuple[str, ...]) -> tuple[handoff.Handoff, User]:
    """Verify the token, spend its jti, then find or create its user."""
    verified = handoff.verify(token, secrets)
    handoff.check_next(verified, lambda path: safe_next(path) == path)
    try:
        handoff.claim_jti(redis_client(), verified)
    except redis.RedisError as exc:
        metrics.count_handoff("redis_unavailable")
        log.warning("hand-off: Redis unavailable (%s): answering 503", type(exc).__name__)
        raise SessionStoreDown() from None
    return verified, _user_of(verified)


def _user_of(verified: handoff.Handoff) -> User:
    try:
        return upsert_external_user(verified.external_id, verified.email)[0]
    except EmailOfAnotherUser:
        log.warning("hand-off refused: the email of external id %r belongs to another user", verified.external_id)
        raise handoff.HandoffRefused(
            "email_taken",
            "Your email address is already used by another account here, so we cannot sign you in "
            "with it. Please contact support.",
        ) from None
    except AccountError as exc:
        raise handoff.HandoffRefused("bad_claim", str(exc)) from None
