"""Accounts: /register, /login, /logout (flask-login, CSRF-protected forms)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from portal_service.errors import error_response, wants_json
from portal_service.extensions import login_manager
from shared.login_throttle import wait_words
from shared.models import User
from shared.users import AccountError, authenticate, create_user

bp = Blueprint("auth", __name__)
HOME = "/dashboard/billing"


class SessionUser(UserMixin):
    """The signed-in user as flask-login sees it; ``.user`` is the row."""

    def __init__(self, user: User):
        self.user = user
        self.id = user.id


@login_manager.user_loader
def load_user(user_id: str):
    user = User.get_or_none(User.id == int(user_id)) if user_id.isdigit() else None
    return SessionUser(user) if user else None


@login_manager.unauthorized_handler
def unauthorized():
    if wants_json():
        return error_response(401, "Login required")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None) -> str:
    """Only a path on this site: never a scheme, a host, or '//' or '\\' tricks."""
    if not target or "\\" in target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return HOME
    return target


def start_session(user: User) -> None:
    session.clear()  # a fresh session on every login: no fixation
    login_user(SessionUser(user))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if request.method == "GET":
        return render_template("register.html")
    email, ip = request.form.get("email", ""), request.remote_addr
    throttle = current_app.extensions["login_throttle"]
    wait = throttle.registration_retry_after(ip)
    if wait:
        message = f"Too many sign-ups from your network. Try again in {wait_words(wait)}."
        return _too_many(wait, message, "register.html", email=email)
    throttle.record_registration(ip)
    try:
        user = create_user(email, request.form.get("password", ""))
    except AccountError as exc:
        return render_template("register.html", error=str(exc), email=email), 400
    start_session(user)
    return redirect(safe_next(request.args.get("next")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    email, ip = request.form.get("email", ""), request.remote_addr
    throttle = current_app.extensions["login_throttle"]
    wait = throttle.retry_after(email, ip)
    if wait:
        return _too_many_attempts(wait, email)
    user = authenticate(email, request.form.get("password", ""))
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
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


@bp.get("/")
def index():
    return redirect(HOME if current_user.is_authenticated else url_for("auth.login"))
