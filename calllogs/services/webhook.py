"""Webhook intake: VICIdial's Start, Dispo and No-Agent call URLs.

A request is checked, validated and stored with one INSERT (a table queue), then answered;
on commit ``webhook_events_stored`` is sent, and the calllogs app's receiver wakes a worker
that drains the stored events in batches (``calllogs.services.drain``).
"""

import hmac
import json
import logging
import time
from typing import Any

from django.db import connection

from calllogs.callurl import CallUrlError, call_url, call_url_fields, call_url_record, has_nul
from calllogs.client import CallRecord
from calllogs.errors import FORBIDDEN, INVALID
from calllogs.models import ServerHook
from calllogs.signals import webhook_events_stored
from core.errors import error_body
from leads.signals import send_on_commit

logger = logging.getLogger(__name__)

MAX_SERVER_ID = 2**31 - 1
HOOK_CACHE_SECONDS = 60.0
_token_cache: dict[int, tuple[float, str | None]] = {}


def record_from_webhook(params: dict[str, str]) -> CallRecord:
    """The call of a stored call-URL event (its checked fields; older events stored the
    whole query string, and pass the same checks). Raises ``CallUrlError``."""
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise CallUrlError("Not a call-URL event (its values are not text).")
    return call_url_record(call_url_fields([(str(k), v) for k, v in params.items()]))


def _server_token(server_id: int) -> str | None:
    """The server's call-URL token, cached a minute per process (a rotated token stops
    working within that minute)."""
    now = time.monotonic()
    hit = _token_cache.get(server_id)
    if hit and now - hit[0] < HOOK_CACHE_SECONDS:
        return hit[1]
    token = ServerHook.objects.filter(server_id=server_id).values_list("token", flat=True).first()
    if len(_token_cache) > 1000:
        _token_cache.clear()
    _token_cache[server_id] = (now, token)
    return token


def webhook_server(*, server: str, token: str) -> int | None:
    """The server id a (server, token) pair authenticates: the token is loaded by server
    id and compared in constant time."""
    if not (server.isascii() and server.isdigit()) or len(server) > 10 or not token:
        return None
    server_id = int(server)
    if not 0 < server_id <= MAX_SERVER_ID:
        return None
    stored = _server_token(server_id)
    given = token.encode("utf-8", "replace")
    if stored is None or not hmac.compare_digest(stored.encode(), given):
        return None
    return server_id


def _first(pairs: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in pairs if key == name), "")


def webhook_receive(*, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    """One call-URL request (its query string as (name, value) pairs): refuse a NUL byte,
    check the server and token, check the fields its kind carries, store them. Returns the
    HTTP status and JSON body to answer (the Django view and the WSGI fast path both use
    it). Nothing here logs the request: its URL holds the token."""
    if has_nul(pairs):
        return 400, error_body(INVALID, "A call URL cannot hold a NUL byte.")
    server_id = webhook_server(server=_first(pairs, "server"), token=_first(pairs, "token"))
    if server_id is None:
        return 403, error_body(FORBIDDEN, "Unknown server or token.")
    try:
        fields = call_url_fields(pairs)
    except CallUrlError as exc:
        return 400, error_body(INVALID, exc.message, exc.errors)
    webhook_event_store(server_id=server_id, params=fields)  # the token is not a field
    return 200, {"ok": True, "queued": True}


def webhook_event_store(*, server_id: int, params: dict[str, str]) -> None:
    """Keep a validated call-URL request (one INSERT); on commit, announce it so a worker
    wakes to apply it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calllogs_webhookevent (server_id, received_at, params) "
            "VALUES (%s, now(), %s)",
            [server_id, json.dumps(params)],
        )
    send_on_commit(webhook_events_stored)


def webhook_url(*, hook: ServerHook, base_url: str, kind: str) -> str:
    """The exact call URL to paste into the campaign's Start/Dispo/No-Agent URL field."""
    return call_url(base_url=base_url, server_id=hook.server_id, token=hook.token, kind=kind)
