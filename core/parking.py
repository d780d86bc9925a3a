"""Connections the web server does not read again for a moment.

An API client refused for its rate is told when to come back (``Retry-After``). One that
keeps sending on its connections anyway would otherwise get an answer as fast as the web
process can refuse, and a few such connections in a closed loop keep the CPU busy that
other workspaces need. The refusal's code (``leads.fastpath``) calls ``park_connection``
while it answers; the web server's worker (``core.gunicorn_worker``) then sends that
answer at once but reads the connection's next request only when the parking ends. No
thread waits meanwhile: the connection sits outside the server's poller, its next
request unread in the socket. A client that waits its ``Retry-After`` never notices.

The request handler and the worker run in the same thread for a request, so the hint
goes through a thread-local.
"""

import threading
import time

_local = threading.local()


def park_connection(seconds: float) -> None:
    """Do not read this request's connection again for ``seconds`` after answering it."""
    if seconds > 0:
        _local.until = time.monotonic() + seconds


def take_parking() -> float:
    """The monotonic time until which the current request's connection is parked (0: not
    parked), forgotten once read."""
    until = getattr(_local, "until", 0.0)
    _local.until = 0.0
    return until
