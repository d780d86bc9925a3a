"""The error hierarchy. Interfaces map these to HTTP answers and admin messages."""

from typing import Any


def error_body(code: str, message: str, errors: Any = None) -> dict[str, Any]:
    """The one error shape of every JSON answer (API, webhooks, middleware)."""
    return {"code": code, "message": message, "errors": errors or {}}


class ApplicationError(Exception):
    """A business rule said no. Shown to the user as ``{"code", "message", "errors"}``."""

    code = "application_error"
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        errors: Any = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.errors = errors or {}


IN_USE = "in_use"  # a delete refused: other records still point at the object (409)


class ConflictError(ApplicationError):
    code = "conflict"
    status_code = 409


class ClientError(Exception):
    """An external system failed. ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, raw: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.raw = raw
