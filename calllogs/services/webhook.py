"""Webhook intake: VICIdial's Start, Dispo and No-Agent call URLs.

A request is checked, validated and stored with one INSERT (a table queue), then answered;
on commit ``webhook_events_stored`` is sent, and the calllogs app's receiver wakes a worker
that drains the stored events in batches through the one upsert.
"""

import json
import logging
import time
from collections import defaultdict
from typing import Any

from django.db import connection, transaction

from calllogs.client import CallRecord, call_time_of
from calllogs.models import ServerHook
from calllogs.services.upsert import call_log_upsert_many
from calllogs.signals import webhook_events_stored
from core.db import json_value
from core.errors import error_body
from leads.signals import send_on_commit

logger = logging.getLogger(__name__)


def webhook_value(raw: str | None) -> str:
    """A call-URL value; a placeholder VICIdial left unfilled (--A--x--B--) counts as empty."""
    if raw is None:
        return ""
    value = raw.strip()
    if value.startswith("--A--") and value.endswith("--B--"):
        return ""
    return value


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.lstrip("-").isdigit() else None


def record_from_webhook(params: dict[str, str]) -> CallRecord:
    """Build a record from the query string of a Start, Dispo or No-Agent call URL."""

    def get(*names: str) -> str:
        return next((v for n in names if (v := webhook_value(params.get(n)))), "")

    uniqueid = get("uniqueid")
    call_time_of(uniqueid)  # validates
    call_id = get("call_id", "callerid")
    recording = get("recording_url", "rec", "recording_filename")
    return CallRecord(
        uniqueid=uniqueid,
        vendor_lead_code=get("vendor_lead_code", "vendor_id"),
        vici_lead_id=_int(get("lead_id")),
        phone=get("phone_number", "phone", "dialed_number"),
        list_id=_int(get("list_id")),
        campaign=get("campaign", "group", "channel_group"),
        agent=get("user"),
        status=get("dispo", "status"),
        talk_seconds=_int(get("talk_time", "talk")) or 0,
        term_reason=get("term_reason", "term"),
        call_id=call_id,
        recording_url=recording,
        direction="in" if call_id.startswith("Y") or get("closecallid") else "out",
    )


_hook_cache: dict[tuple[str, str], tuple[float, int | None]] = {}
HOOK_CACHE_SECONDS = 60.0


def webhook_server(*, server: str, token: str) -> int | None:
    """The server id a (server, token) pair authenticates, cached a minute per process (a
    rotated token stops working within that minute)."""
    if not server.isdigit() or not token:
        return None
    key = (server, token)
    hit = _hook_cache.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < HOOK_CACHE_SECONDS:
        return hit[1]
    server_id = (
        ServerHook.objects.filter(server_id=int(server), token=token)
        .values_list("server_id", flat=True)
        .first()
    )
    if len(_hook_cache) > 1000:
        _hook_cache.clear()
    _hook_cache[key] = (now, server_id)
    return server_id


def webhook_receive(*, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """One call-URL request: check the server and token, validate, store. Returns the HTTP
    status and JSON body to answer (the Django view and the WSGI fast path both use it)."""
    server_id = webhook_server(server=params.get("server", ""), token=params.get("token", ""))
    if server_id is None:
        return 403, error_body("forbidden", "Unknown server or token.")
    try:
        record_from_webhook(params)
    except ValueError as exc:
        return 400, error_body("invalid", str(exc), {"uniqueid": [str(exc)]})
    stored = {name: value for name, value in params.items() if name != "token"}  # secret
    webhook_event_store(server_id=server_id, params=stored)
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


def webhook_events_drain(*, batch_size: int = 1000, max_batches: int | None = None) -> int:
    """Apply stored webhook events in batches: delete and upsert in one transaction each."""
    applied = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM calllogs_webhookevent WHERE id IN (SELECT id FROM "
                "calllogs_webhookevent ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "RETURNING id, server_id, params",
                [batch_size],
            )
            rows = sorted(cursor.fetchall())
            if not rows:
                break
            for server_id, records in _records_by_server(rows).items():
                call_log_upsert_many(server_id=server_id, records=records, path="webhook")
        applied += len(rows)
        batches += 1
    return applied


def _records_by_server(rows: list[tuple]) -> dict[int, list[CallRecord]]:
    """Stored (id, server_id, params) rows as call records per server."""
    by_server: dict[int, list[CallRecord]] = defaultdict(list)
    for _id, server_id, params in rows:
        try:
            by_server[server_id].append(record_from_webhook(json_value(params)))
        except ValueError as exc:  # validated before storing; kept in the log
            logger.error("webhook event %s dropped: %s", _id, exc)
    return by_server


def webhook_url(*, hook: ServerHook, base_url: str, kind: str) -> str:
    """The exact call URL to paste into the campaign's Start/Dispo/No-Agent URL field."""
    variables = [
        "lead_id",
        "vendor_lead_code",
        "list_id",
        "phone_number",
        "dispo",
        "talk_time",
        "call_id",
        "uniqueid",
        "user",
        "campaign",
        "recording_filename",
        "term_reason",
        "epoch",
    ]
    query = "&".join(f"{v}=--A--{v}--B--" for v in variables)
    return (
        f"VAR{base_url.rstrip('/')}/webhooks/vici/call/?server={hook.server_id}"
        f"&token={hook.token}&kind={kind}&{query}"
    )
