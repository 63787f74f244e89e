"""Accounts: /register, /login, /logout (flask-login, CSRF-protected forms).

A signed-in session is a server-side record (shared.accounts.user_sessions) whose token
is flask-login's user id: logout ends it, and a copy of the cookie is refused
afterwards. While Redis, which holds the records, does not answer, signed-in
pages answer 503 (they cannot tell a live session from an ended one).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import redis
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from werkzeug.exceptions import ServiceUnavailable

from portal_service.errors import error_response, wants_json
from portal_service.extensions import login_manager, login_throttle, passwords, redis_client, settings
from shared.accounts import user_sessions
from shared.accounts.login_throttle import wait_words
from shared.accounts.users import AccountError, authenticate, create_user
from shared.infra.models import User

bp = Blueprint("auth", __name__)
log = logging.getLogger("portal.auth")
HOME = "/dashboard/billing"


class SessionStoreDown(ServiceUnavailable):
    description = "Signing in is unavailable for a moment. Please try again in a minute."


class SessionUser(UserMixin):
    """The signed-in user as flask-login sees it; ``.user`` is the row, ``.token`` its session."""

    def __init__(self, user: User, token: str):
        self.user = user
        self.id = user.id
        self.token = token

    def get_id(self) -> str:
        return self.token  # what flask-login keeps in the cookie


@login_manager.user_loader
def load_user(token: str):
    if g.get("session_store_down"):
        return None  # the 503 page itself renders signed out
    try:
        user_id = user_sessions.user_of(redis_client(), token)
    except redis.RedisError as exc:
        raise _store_down(exc) from None
    user = User.get_or_none(User.id == user_id) if user_id is not None else None
    return SessionUser(user, token) if user else None


def _store_down(exc: redis.RedisError) -> SessionStoreDown:
    log.warning("session store unavailable (%s): answering 503", type(exc).__name__)
    g.session_store_down = True
    return SessionStoreDown()


@login_manager.unauthorized_handler
def unauthorized():
    if wants_json():
        return error_response(401, "Login required")
    if not local_sign_in():
        return sign_in_elsewhere()
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def local_sign_in() -> bool:
    """Whether the local forms are on (AUTH_MODES has local); with hand-off alone they answer 404."""
    return "local" in settings().sign_in_modes


def sign_in_elsewhere():
    """A signed-out visitor where only the host app signs users in: say so, point nowhere that 404s."""
    return render_template("sign_in_elsewhere.html"), 401


@bp.url_value_preprocessor
def hide_local_forms(endpoint: str | None, values: dict | None) -> None:
    # A URL preprocessor runs before every before_request, CSRF's included: a post is 404 too, not 400.
    if endpoint in ("auth.register", "auth.login") and not local_sign_in():
        abort(404)


# A plain local path: "/" then printable ASCII, never a second "/" right after
# it, a backslash, or an encoded slash, backslash or control character (a
# proxy or browser that decodes again must not find "//host" or a new header).
LOCAL_PATH = re.compile(r"/(?![/\\])[!-~]*")
ENCODED_TRICK = re.compile(r"%(2f|5c|[01][0-9a-f]|7f)", re.IGNORECASE)
MAX_NEXT_LENGTH = 2048


def safe_next(target: str | None) -> str:
    """Only a plain path on this site: never a scheme, a host, control characters or '//' or '\\' tricks."""
    if not target or len(target) > MAX_NEXT_LENGTH or not LOCAL_PATH.fullmatch(target):
        return HOME
    if "\\" in target or ENCODED_TRICK.search(target):
        return HOME
    parts = urlsplit(target)
    return HOME if parts.scheme or parts.netloc else target


def start_session(user: User) -> None:
    """A fresh session on every sign-in (no fixation); a session it replaces ends."""
    replaced = session.get("_user_id")
    session.clear()
    try:
        if replaced:
            user_sessions.end(redis_client(), replaced)
        token = user_sessions.start(redis_client(), user.id)
    except redis.RedisError as exc:
        raise _store_down(exc) from None
    login_user(SessionUser(user, token))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if request.method == "GET":
        return render_template("register.html")
    email, ip = request.form.get("email", ""), request.remote_addr
    throttle = login_throttle()
    wait = throttle.registration_retry_after(ip)
    if wait:
        message = f"Too many sign-ups from your network. Try again in {wait_words(wait)}."
        return _too_many(wait, message, "register.html", email=email)
    throttle.record_registration(ip)
    try:
        user = create_user(email, request.form.get("password", ""), passwords())
    except AccountError as exc:
        return render_template("register.html", error=str(exc), email=email), 400
    start_session(user)
    return redirect(safe_next(request.args.get("next")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    email, ip = request.form.get("email", ""), request.remote_addr
    throttle = login_throttle()
    wait = throttle.retry_after(email, ip)
    if wait:
        return _too_many_attempts(wait, email)
    user = authenticate(email, request.form.get("password", ""), passwords())
    if user is None:
        throttle.record_failure(email, ip)
        error = "Email or password is wrong."
        return render_template("login.html", error=error, email=email, next=request.form.get("next", "")), 401
    throttle.record_success(email)
    start_session(user)
    return redirect(safe_next(request.form.get("next") or request.args.get("next")))


def _too_many_attempts(wait: int, email: str):
    message = f"Too many failed sign-in attempts. Try again in {wait_words(wait)}."
    return _too_many(wait, message, "login.html", email=email, next=request.form.get("next", ""))


def _too_many(wait: int, message: str, template: str, **context):
    """429 with Retry-After: the form again for browsers, the message as JSON for API callers."""
    if wants_json():
        response = error_response(429, message)
    else:
        response = render_template(template, error=message, **context), 429
    response = current_app.make_response(response)
    response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/logout")
@login_required
def logout():
    try:
        user_sessions.end(redis_client(), current_user.token)
    except redis.RedisError as exc:
        raise _store_down(exc) from None
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login") if local_sign_in() else url_for("auth.index"))


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(HOME)
    return redirect(url_for("auth.login")) if local_sign_in() else sign_in_elsewhere()
