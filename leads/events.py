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
