"""Intake's statements: the dedupe lookup, the ids, and a batch's writes (INSERTs sent in
one round trip for a small batch, COPY for a large one)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from core.locks import XACT_LOCKS_SQL, advisory_xact_locks_statement, lock_order
from core.partitions import archived_names_sql, archived_names_statement
from core.pipeline import Pending, Sender, Statement, Transaction, pipelined
from core.prepared import Prepared, generic_plans
from leads import fields as lead_fields
from leads.models import Lead
from leads.suppressions import MATCHES_SQL, matches_values, suppression_matches_statement

LEAD_COLUMNS = (
    "id",
    "workspace_id",
    "created_at",
    "updated_at",
    *lead_fields.PROFILE,
    "custom",
    *lead_fields.CONSENT,
    "dedupe_hash",
    "status",
    "status_reason",
    "locked_by",
    "routing_attempts",
    "expires_at",
)
# A new lead's events carry its scope (its workspace, no destination yet: the same copy the
# insert trigger of leads 0011 would read from the lead, without the lookup); events of an
# earlier lead leave it empty and the trigger reads it.
EVENT_COLUMNS = (
    "lead_id",
    "created_at",
    "kind",
    "message",
    "data",
    "actor",
    "lead_workspace_id",
    "lead_destination_id",
)
# A batch of at most this many lead and event rows is written by INSERTs sent in one round
# trip with the counts; a larger one by COPY (one statement per table).
PIPELINE_MAX_ROWS = 100
# How far ahead of this server's clock another server may have stamped a lead.
DEDUPE_CLOCK_MARGIN = timedelta(hours=1)


def originals_statement(
    workspace_id: int, hashes: list[str], archived: list[str], since: datetime, now: datetime
) -> Statement:
    """The earliest lead per dedupe hash in the window, live and archived partitions
    (``archived``: the archived partitions that overlap it); rows (hash, id).

    The window's end (``now`` plus a margin for other servers' clocks) lets the planner
    leave out the future months' partitions and the default one: planning the lookup over
    every partition and its indexes cost more than running it."""
    sources = ['"leads_lead"', *archived]
    union = " UNION ALL ".join(
        f"SELECT id, dedupe_hash, created_at FROM {table} "
        "WHERE workspace_id = %s AND dedupe_hash = ANY(%s) AND created_at >= %s "
        "AND created_at < %s"
        for table in sources
    )
    until = now + DEDUPE_CLOCK_MARGIN
    params: list[Any] = []
    for _ in sources:
        params += [workspace_id, hashes, since, until]
    return (
        f"SELECT DISTINCT ON (dedupe_hash) dedupe_hash, id FROM ({union}) t "
        "ORDER BY dedupe_hash, created_at, id",
        params,
    )


# A small batch's reads, prepared (``core.prepared``): their planning cost more than their
# runs (bench/README.md). A batch of more people sends them as text: its planning is
# shared by its people, and a plan made for a partition smaller than now costs per person.
PREPARED_MAX_PEOPLE = 10
# The earliest lead per dedupe hash in the live partitions, as ``originals_statement``
# without archived ones: per hash, its lead by the hash index. This shape's generic plan
# reads that index whatever the window (the run-time pruning leaves the window's
# partitions); ``dedupe_hash = ANY(array)`` over the window would read the ``created_at``
# index and filter every lead of the window (bench/README.md).
ORIGINALS_LIVE = Prepared(
    "lb_lead_originals",
    ("bigint", "text[]", "timestamptz", "timestamptz"),
    "SELECT h.hash, l.id FROM unnest($2) h(hash) CROSS JOIN LATERAL ("
    "SELECT id FROM leads_lead WHERE dedupe_hash = h.hash AND workspace_id = $1 "
    "AND created_at >= $3 AND created_at < $4 ORDER BY created_at, id LIMIT 1) l",
)
LOCKS = Prepared("lb_intake_locks", ("bigint[]",), XACT_LOCKS_SQL.format("$1"))
ARCHIVED_NAMES = Prepared("lb_lead_archived_names", (), archived_names_sql(Lead))
SUPPRESSED = Prepared(
    "lb_suppression_matches",
    ("bigint", "text", "text[]", "text", "text[]"),
    MATCHES_SQL.format("$1", "$2", "$3", "$4", "$5"),
)


@dataclass
class Reads:
    originals: Pending  # rows (hash, id) in the live partitions
    archive: Pending  # rows (name,) for archived_tables_among
    suppressed: Pending | None  # rows (kind, value); None: no phone or email to match


def intake_reads(
    send: Sender,
    *,
    workspace_id: int,
    hashes: list[str],
    since: datetime,
    now: datetime,
    lock_keys: list[int],
    phones: list[str],
    emails: list[str],
) -> Reads:
    """Queue a batch's reads: the locks first (every read after them sees what a racing
    batch of the same people committed), the dedupe lookup in the live partitions, the
    archived partitions' names and the do-not-contact matches."""
    if not Prepared.enabled() or len(hashes) > PREPARED_MAX_PEOPLE:
        locks = advisory_xact_locks_statement(lock_keys)
        if locks:
            send(*locks)
        suppressions = suppression_matches_statement(
            workspace_id=workspace_id, phones=phones, emails=emails
        )
        return Reads(
            originals=send(*originals_statement(workspace_id, hashes, [], since, now)),
            archive=send(*archived_names_statement(Lead)),
            suppressed=send(*suppressions) if suppressions else None,
        )
    with generic_plans(send):
        if lock_keys:
            LOCKS.send(send, [lock_order(lock_keys)])
        until = now + DEDUPE_CLOCK_MARGIN
        return Reads(
            originals=ORIGINALS_LIVE.send(send, [workspace_id, hashes, since, until]),
            archive=ARCHIVED_NAMES.send(send, []),
            suppressed=SUPPRESSED.send(
                send, matches_values(workspace_id=workspace_id, phones=phones, emails=emails)
            )
            if phones or emails
            else None,
        )


def reserve_ids_statement(count: int) -> Statement:
    return (
        "SELECT nextval(pg_get_serial_sequence('leads_lead', 'id')) FROM generate_series(1, %s)",
        [count],
    )


def insert_statement(
    table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> Statement:
    """One multi-row INSERT: a small batch's rows, sent with other statements (COPY cannot be)."""
    values = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([values] * len(rows))}",
        [value for row in rows for value in row],
    )


def intake_write(
    lead_rows: list[tuple[Any, ...]],
    events: list[tuple[Any, ...]],
    counts: Statement | None,
    tx: Transaction,
) -> None:
    """Write a batch's new leads (``LEAD_COLUMNS``), its events (``EVENT_COLUMNS``) and
    its counts' upsert, in this order; a small batch's COMMIT of ``tx`` goes with them (a
    batch written by COPY leaves it to ``tx``'s end)."""
    if len(lead_rows) + len(events) > PIPELINE_MAX_ROWS:
        copy_rows("leads_lead", LEAD_COLUMNS, lead_rows)
        copy_rows("leads_leadevent", EVENT_COLUMNS, events)
        if counts:
            with connection.cursor() as cursor:
                cursor.execute(*counts)
        return
    with pipelined(tx, commit=True) as send:
        if lead_rows:
            send(*insert_statement("leads_lead", LEAD_COLUMNS, lead_rows))
        if events:
            send(*insert_statement("leads_leadevent", EVENT_COLUMNS, events))
        if counts:
            send(*counts)


def copy_rows(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
