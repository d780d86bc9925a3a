"""API requests of a key refused for its rate a moment ago, refused again before Django.

A flooding integrator's refused requests would each still cost a trip through the
middleware, authentication and a Redis round trip: on a small machine enough of them slow
every other workspace down. ``WorkspaceThrottle`` remembers a rate refusal in this process
(``core.ratelimit.remember_refusal``, ``API_REFUSAL_MEMO_SECONDS``, never past the
``Retry-After``); until then the same key is answered here with the same 429, its
``Retry-After`` and the API's error shape, for the cost of hashing the header and a
dictionary lookup. Other keys, and every request while nothing is remembered, pass through
untouched.

The connection of a request answered here is parked, like that of any rate refusal
(``core.ratelimit.park_refused_connection``).
"""

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from rest_framework.exceptions import Throttled

from core.errors import error_body
from core.ratelimit import has_refusals, park_refused_connection, remembered_refusal
from leads.models import ApiKey

PREFIX = "/api/"
KEYWORD = "Api-Key "
THROTTLED = "throttled"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def refusal_for(environ: dict[str, Any]) -> tuple[int, str] | None:
    """(Retry-After seconds, message) when this request's key is refused here, else None."""
    if not has_refusals():
        return None
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith(KEYWORD) or not environ.get("PATH_INFO", "").startswith(PREFIX):
        return None
    return remembered_refusal(ApiKey.hash(header[len(KEYWORD) :].strip()))


def wrap(django_app: WsgiApp) -> WsgiApp:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]):
        started = time.perf_counter()
        refusal = refusal_for(environ)
        if refusal is None:
            return django_app(environ, start_response)
        retry_after, message = refusal
        park_refused_connection(retry_after)
        detail = str(Throttled(wait=retry_after, detail=message).detail)  # DRF's words
        data = json.dumps(error_body(THROTTLED, detail)).encode()
        start_response(
            "429 Too Many Requests",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("Retry-After", str(retry_after)),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Response-Time", f"{(time.perf_counter() - started) * 1000:.1f}ms"),
            ],
        )
        return [data]

    return application
