"""The lead's history: every change appends ``LeadEvent`` rows in its own transaction."""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone


@dataclass
class EventSpec:
    lead_id: int
    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    at: datetime | None = None


def lead_events_record(*, events: Iterable[EventSpec]) -> int:
    """Append history rows in one INSERT. Call inside the transaction of the change."""
    now = timezone.now()
    rows = [
        (e.lead_id, e.at or now, e.kind, e.message, json.dumps(e.data), e.actor[:100])
        for e in events
    ]
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_leadevent (lead_id, created_at, kind, message, data, actor) "
            "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::varchar[], %s::text[], "
            "%s::jsonb[], %s::varchar[])",
            columns,
        )
    return len(rows)


def lead_events_record_select(
    *,
    source_sql: str,
    params: list[Any],
    kind: str,
    message: str,
    actor: str,
    at: datetime | None = None,
) -> int:
    """Append one history row of ``kind``, ``message`` and ``actor`` per row of
    ``source_sql`` (a SELECT of ``lead_id`` and ``data`` jsonb, with ``params``), in one
    INSERT ... SELECT: for set-wise writers whose rows are already in the database (a batch
    of 10,000 enrollments), so they do not travel to Python and back as ``EventSpec``s.
    Call inside the transaction of the change. Returns the rows written."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_leadevent (lead_id, created_at, kind, message, data, actor) "
            f"SELECT src.lead_id, %s, %s, %s, src.data, %s FROM ({source_sql}) src",
            [at or timezone.now(), kind, message, actor[:100], *params],
        )
        return int(cursor.rowcount)
