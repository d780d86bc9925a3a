"""The VICIdial call URL at the WSGI level: the one endpoint that must take 1,000+
requests a second on a small machine, so GETs skip Django's middleware and URL routing.

It does exactly what ``views.vici_call`` does (same checks, same answers, same service
calls), minus sessions, auth and per-request metrics; POSTs still go through the view.
"""

import json
import logging
from urllib.parse import parse_qsl

from django.db import InterfaceError, OperationalError, connection

from calllogs.services import record_from_webhook, webhook_event_store, webhook_server

logger = logging.getLogger(__name__)
PATH = "/webhooks/vici/call/"


def _answer(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])  # fmt: skip
    return [data]


def vici_call(environ, start_response) -> list[bytes]:
    params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    for attempt in (1, 2):  # a connection the database dropped is reopened once
        try:
            server_id = webhook_server(server=params.get("server", ""),
                                       token=params.get("token", ""))  # fmt: skip
            if server_id is None:
                return _answer(
                    start_response,
                    "403 Forbidden",
                    {"code": "forbidden", "message": "Unknown server or token."},
                )
            try:
                record_from_webhook(params)
            except ValueError as exc:
                return _answer(
                    start_response,
                    "400 Bad Request",
                    {"code": "invalid", "message": str(exc), "errors": {"uniqueid": [str(exc)]}},
                )
            stored = {k: v for k, v in params.items() if k != "token"}
            webhook_event_store(server_id=server_id, params=stored)
            return _answer(start_response, "200 OK", {"ok": True, "queued": True})
        except (OperationalError, InterfaceError):
            connection.close()
            if attempt == 2:
                logger.exception("call URL event could not be stored")
                return _answer(
                    start_response,
                    "503 Service Unavailable",
                    {"code": "unavailable", "message": "Try again."},
                )
    raise AssertionError("unreachable")


def wrap(django_app):
    def application(environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            return vici_call(environ, start_response)
        return django_app(environ, start_response)

    return application
