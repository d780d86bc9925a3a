"""The VICIdial call URL at the WSGI level: the one endpoint that must take 1,000+
requests a second on a small machine, so GETs skip Django's middleware and URL routing.

It answers through the same ``webhook_receive`` as ``views.vici_call``, minus sessions,
auth and per-request metrics; POSTs still go through the view.
"""

import json
import logging
from urllib.parse import parse_qsl

from django.db import InterfaceError, OperationalError, connection

from calllogs.errors import INTERNAL, UNAVAILABLE
from calllogs.services import webhook_receive
from core.errors import error_body

logger = logging.getLogger(__name__)
PATH = "/webhooks/vici/call/"


STATUS_LINES = {
    200: "200 OK",
    400: "400 Bad Request",
    403: "403 Forbidden",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


def _answer(start_response, status: int, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        STATUS_LINES[status],
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def vici_call(environ, start_response) -> list[bytes]:
    """Answer here, whatever happens: an exception left to gunicorn would be logged with the
    request's URL, and the URL holds the server's token."""
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    try:
        return _answer(start_response, *_receive(pairs))
    except Exception:  # noqa: BLE001 - the WSGI boundary: logged without the URL, a 500
        logger.exception("call URL request failed")
        return _answer(start_response, 500, error_body(INTERNAL, "Internal error."))


def _receive(pairs: list[tuple[str, str]]) -> tuple[int, dict]:
    try:
        return webhook_receive(pairs=pairs)
    except (OperationalError, InterfaceError):  # a connection the database dropped: once more
        connection.close()
    try:
        return webhook_receive(pairs=pairs)
    except (OperationalError, InterfaceError):
        connection.close()
        logger.exception("call URL event could not be stored")
        return 503, error_body(UNAVAILABLE, "Try again.")


def wrap(django_app):
    def application(environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            return vici_call(environ, start_response)
        return django_app(environ, start_response)

    return application
