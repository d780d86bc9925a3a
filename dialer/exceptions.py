"""The dialer's business-rule errors."""

from core.errors import ApplicationError
from dialer.errors import SERVER_PAUSED


class ServerPausedError(ApplicationError):
    """The VICIdial server is paused (a login problem) or inactive: nothing may call it."""

    code = SERVER_PAUSED
    status_code = 409
