"""The drain of stored call-URL events, and its dead letters.

A batch is one server's oldest events: deleted from the queue and applied through the one
upsert in one transaction. An event that cannot be applied (a value the database refuses,
an event stored before today's checks) must not hold back the others, nor come back
forever: the batch is bisected in savepoints down to the events that fail, and those move
to the dead-letter list (with the reason) where the admin can retry them. A database that
is down rolls the whole batch back into the queue instead.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from calllogs.callurl import CallUrlError
from calllogs.client import CallRecord
from calllogs.services.upsert import call_log_upsert_many
from calllogs.services.webhook import record_from_webhook
from calllogs.signals import webhook_events_stored
from core.db import json_value
from leads.signals import send_on_commit

# Errors of one event's data; anything else (a lost connection, a deadlock) is the batch's.
EVENT_ERRORS = (DataError, IntegrityError, CallUrlError, ValueError)

CLAIM_SQL = """
    DELETE FROM calllogs_webhookevent WHERE id IN (
        SELECT id FROM calllogs_webhookevent WHERE server_id = (
            SELECT server_id FROM calllogs_webhookevent ORDER BY id LIMIT 1
            FOR UPDATE SKIP LOCKED)
        ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING id, server_id, received_at, params
"""


@dataclass
class _Event:
    id: int
    server_id: int
    received_at: datetime
    params: dict[str, Any]
    record: CallRecord | None = None
    error: str = ""


def webhook_events_drain(*, batch_size: int = 1000, max_batches: int | None = None) -> int:
    """Apply stored webhook events, a server's batch per transaction. Returns how many
    events left the queue (applied or dead-lettered)."""
    taken = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, [batch_size])
            events = [_Event(i, s, r, json_value(p)) for i, s, r, p in sorted(cursor.fetchall())]
            if not events:
                break
            dead = [e for e in events if not _parse(e)]
            _apply_isolated(events[0].server_id, [e for e in events if e.record], dead)
            _dead_letters_store(dead)
        taken += len(events)
        batches += 1
    return taken


def _parse(event: _Event) -> bool:
    try:
        event.record = record_from_webhook(event.params)
    except CallUrlError as exc:
        event.error = f"{exc.message} {json.dumps(exc.errors)}"
        return False
    return True


def _apply_isolated(server_id: int, events: list[_Event], dead: list[_Event]) -> None:
    """Upsert these events in a savepoint; if one of them fails, bisect down to it."""
    if not events:
        return
    try:
        with transaction.atomic():
            records = [e.record for e in events if e.record]
            call_log_upsert_many(server_id=server_id, records=records, path="webhook")
    except EVENT_ERRORS as exc:
        if len(events) == 1:
            events[0].error = f"{type(exc).__name__}: {exc}"
            dead.append(events[0])
            return
        half = len(events) // 2
        _apply_isolated(server_id, events[:half], dead)
        _apply_isolated(server_id, events[half:], dead)


def _dead_letters_store(dead: list[_Event]) -> None:
    if not dead:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calllogs_webhookdeadletter (server_id, received_at, failed_at, params, "
            "error) SELECT s, r, %s, p, e FROM unnest(%s::bigint[], %s::timestamptz[], "
            "%s::jsonb[], %s::text[]) AS u(s, r, p, e)",
            [
                now,
                [e.server_id for e in dead],
                [e.received_at for e in dead],
                [json.dumps(e.params) for e in dead],
                [e.error[:2000] for e in dead],
            ],
        )


def webhook_dead_letters_retry(*, ids: list[int]) -> int:
    """Put these dead letters back in the queue (as they were received) and wake the drain;
    one that fails again comes back to the list. Returns how many were queued."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "WITH moved AS (DELETE FROM calllogs_webhookdeadletter WHERE id = ANY(%s) "
            "RETURNING server_id, received_at, params) "
            "INSERT INTO calllogs_webhookevent (server_id, received_at, params) "
            "SELECT server_id, received_at, params FROM moved ORDER BY received_at",
            [list(ids)],
        )
        queued = int(cursor.rowcount)
        if queued:
            send_on_commit(webhook_events_stored)
    return queued
