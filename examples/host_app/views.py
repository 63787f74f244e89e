"""The host app's pages: sign-in, notes for everyone, Pro notes for paying users, account, billing."""

from __future__ import annotations

import functools
import logging
import time

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from examples.host_app import billing, store

log = logging.getLogger("acme.views")
bp = Blueprint("views", __name__)


@bp.before_app_request
def load_user() -> None:
    user_id = session.get("user_id")
    g.user = store.user_by_id(user_id) if isinstance(user_id, int) else None


@bp.app_template_filter("clock")
def clock(timestamp: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(timestamp))


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            return redirect(url_for("views.login"))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=("GET", "POST"))
def login():
    if request.method == "POST":
        user = store.check_password(request.form.get("email", ""), request.form.get("password", ""))
        if user is not None:
            session.clear()
            session["user_id"] = user["id"]
            return redirect(url_for("views.notes"))
        flash("Wrong email or password.")
    return render_template("login.html")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("views.login"))


@bp.get("/")
@login_required
def notes():
    return render_template("notes.html")


@bp.get("/pro")
@login_required
def pro_notes():
    """The page only paying users may open."""
    try:
        held = billing.access_of(g.user)
    except billing.BillingUnavailable:
        return render_template("locked.html", held=None), 503
    if not held.has_access:
        return render_template("locked.html", held=held), 403
    return render_template("pro.html", held=held)


@bp.get("/account")
@login_required
def account():
    """The latest access state the app holds, and where it came from."""
    try:
        held = billing.access_of(g.user)
    except billing.BillingUnavailable:
        held = None
    return render_template("account.html", held=held)


@bp.get("/billing")
@login_required
def open_billing():
    """Provision the user at the service (idempotent), then hand the browser off to its billing page."""
    try:
        billing.provision(g.user)
    except (OSError, ValueError) as exc:
        log.warning("could not provision user %s: %s", g.user["id"], exc)
        return render_template("locked.html", held=None), 503
    return redirect(billing.handoff_url(g.user))
