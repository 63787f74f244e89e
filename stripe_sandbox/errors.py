"""Errors that the API answers in Stripe's error shape."""

from typing import Any


class ApiError(Exception):
    """A refusal answered as ``{"error": {...}}`` with an HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
        return {"error": error}


def missing(kind: str, object_id: str, param: str | None = None) -> ApiError:
    """``No such customer: 'cus_x'``: 404 for the URL's object, 400 for a param."""
    return ApiError(
        f"No such {kind}: '{object_id}'",
        status=404 if param is None else 400,
        param=param,
        code="resource_missing",
    )


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(message, param=param)
