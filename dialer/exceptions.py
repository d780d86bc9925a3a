"""The dialer's business-rule errors."""

from core.errors import ApplicationError


class ServerPausedError(ApplicationError):
    """The VICIdial server is paused (a login problem) or inactive: nothing may call it."""

    code = "server_paused"
    status_code = 409
