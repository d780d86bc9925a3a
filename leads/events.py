"""The lead's history: every change appends ``LeadEvent`` rows in its own transaction."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from core.db import newest_rows_restamp
from core.pipeline import Statement
from leads.selectors import lead_scope_stale_sql


@dataclass
class EventSpec:
    lead_id: int
    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    at: datetime | None = None
    # The lead's scope when the caller has it (its workspace, and its destination as the
    # change leaves it): the row's copy, given instead of read from the lead by the insert
    # trigger. Left None, the trigger reads it.
    lead_workspace_id: int | None = None
    lead_destination_id: int | None = None


def lead_events_statement(*, events: Iterable[EventSpec]) -> tuple[Statement | None, int]:
    """The one INSERT of these history rows (None for none) and how many rows it writes,
    for a caller that sends it with its other writes (``core.pipeline``)."""
    now = timezone.now()
    rows = [
        (
            e.lead_id,
            e.at or now,
            e.kind,
            e.message,
            json.dumps(e.data),
            e.actor[:100],
            e.lead_workspace_id,
            e.lead_destination_id if e.lead_workspace_id is not None else None,
        )
        for e in events
    ]
    if not rows:
        return None, 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    return (
        "INSERT INTO leads_leadevent (lead_id, created_at, kind, message, data, actor, "
        "lead_workspace_id, lead_destination_id) "
        "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::varchar[], %s::text[], "
        "%s::jsonb[], %s::varchar[], %s::bigint[], %s::bigint[])",
        columns,
    ), len(rows)


def lead_events_record(*, events: Iterable[EventSpec]) -> int:
    """Append history rows in one INSERT. Call inside the transaction of the change."""
    statement, count = lead_events_statement(events=events)
    if statement is not None:
        with connection.cursor() as cursor:
            cursor.execute(*statement)
    return count


def lead_events_record_select(
    *,
    source_sql: str,
    params: Mapping[str, Any],
    kind: str,
    message: str,
    actor: str,
    at: datetime | None = None,
    with_sql: str = "",
) -> int:
    """Append one history row of ``kind``, ``message`` and ``actor`` per row of
    ``source_sql`` (a SELECT of ``lead_id`` and ``data`` jsonb; named ``params``), in one
    INSERT ... SELECT: for set-wise writers whose rows are already in the database (a batch
    of 10,000 enrollments), so they do not travel to Python and back as ``EventSpec``s.

    ``with_sql`` (the same ``params``) is the statement's WITH list: the caller's own
    writes (``ins AS (INSERT INTO <its table> ... RETURNING ...)``) that ``source_sql``
    reads, so a change and its history are one statement and the new rows' ids never
    travel to Python and back. Call inside the transaction of the change. Returns the
    history rows written."""
    with_clause = f"WITH {with_sql} " if with_sql else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"{with_clause}"
            "INSERT INTO leads_leadevent (lead_id, created_at, kind, message, data, actor) "
            "SELECT src.lead_id, %(_at)s, %(_kind)s, %(_message)s, src.data, %(_actor)s "
            f"FROM ({source_sql}) src",
            {
                **params,
                "_at": at or timezone.now(),
                "_kind": kind,
                "_message": message,
                "_actor": actor[:100],
            },
        )
        return int(cursor.rowcount)


def leadevent_lead_scope_recheck() -> int:
    """Stamp again the newest events whose copy of their lead's scope is stale (written while
    the lead moved; see ``core.db.newest_rows_restamp``): rows fixed."""
    return newest_rows_restamp("leads_leadevent", lead_scope_stale_sql("t"))
