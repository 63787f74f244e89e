"""One error handler: JSON to API callers, HTML to browsers."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import ClientDisconnected, HTTPException, InternalServerError

log = logging.getLogger("portal.errors")


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_browser_form() -> bool:
    """A form a browser posted (even to /api/...): it gets pages and redirects back."""
    return request.mimetype in FORM_TYPES and request.accept_mimetypes.accept_html


def wants_json() -> bool:
    if is_browser_form():
        return False
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message: str):
    if wants_json():
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError):
        return error_response(400, f"CSRF check failed: {exc.description}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.code or InternalServerError.code  # a bare HTTPException() has none
        message = {
            405: f"Method {request.method} not allowed here",
            413: "Request body too large",
        }.get(code, exc.description or "")
        return error_response(code, message)

    @app.errorhandler(ClientDisconnected)
    def body_cut_short(exc: ClientDisconnected):
        # werkzeug reports a read that failed as a disconnect; a timeout there is
        # slow_clients.ClientIdleTimeout cutting off a client that went quiet.
        if isinstance(exc.__context__, TimeoutError):
            log.warning("client silent while sending %s %s: cut off", request.method, request.path)
            return error_response(408, "Request body not received in time")
        return error_response(exc.code, exc.description)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return error_response(InternalServerError.code, "Something went wrong on our side")
