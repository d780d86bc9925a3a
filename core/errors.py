"""The error hierarchy and the error codes. Interfaces map these to HTTP answers and admin
messages.

Every ``code`` of an error answer (``{"code", "message", "errors"}``) is a constant: the
shared ones and core's own here, each app's own in its ``errors`` module (which lists the
shared ones it answers with too). DRF's exceptions bring theirs (``not_authenticated``,
``throttled``, ``parse_error``, ...) as their ``default_code``.
"""

from typing import Any

# --- shared by every app ---------------------------------------------------------------
INVALID = "invalid"  # bad input; the field or row errors are in ``errors``
INVALID_URL = "invalid_url"  # a URL field that is not http(s)
NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"  # a webhook of an unknown sender or with a bad token or signature
PERMISSION_DENIED = "permission_denied"
NOT_AUTHENTICATED = "not_authenticated"
CONFLICT = "conflict"
BUSY = "busy"  # the same job is already running
APPLICATION_ERROR = "application_error"  # a business rule said no (no more precise code)
UPSTREAM_ERROR = "upstream_error"  # an external system failed (502)
SERVER_ERROR = "server_error"
PAYLOAD_TOO_LARGE = "payload_too_large"
NUL_BYTE = "nul_byte"
TOO_DEEP = "too_deep"  # JSON nested deeper than JSON_MAX_DEPTH

# --- core's own: backups, restores, cold storage ----------------------------------------
DAMAGED = "damaged"  # a backup whose files do not match its manifest
INCOMPLETE = "incomplete"  # a restore that did not bring every row back
NOT_EMPTY = "not_empty"  # a restore into a database that holds data
VERIFY_FAILED = "verify_failed"  # a cold-storage file that does not match its rows
MISSING_TOOL = "missing_tool"  # pg_dump / pg_restore / psql not installed
TOOL_FAILED = "tool_failed"


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
