"""Lead intake: validate, normalize, dedupe, suppress and store a batch in one go.

Every entry point (API single and bulk, admin CSV import, demo data) calls
``lead_ingest_batch``. A batch is written with COPY (one statement per table) inside one
transaction that holds a transaction-level advisory lock per person, so concurrent
requests carrying the same person create exactly one lead.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.locks import advisory_xact_locks
from core.partitions import archived_tables
from leads import fields as lead_fields
from leads.models import Lead, LeadEvent, Workspace
from leads.normalize import dedupe_hash, lock_key, normalize_row
from leads.signals import leads_ingested

logger = logging.getLogger(__name__)

CREATED = "created"
DUPLICATE = "duplicate"
SUPPRESSED = "suppressed"
REJECTED = "rejected"

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
EVENT_COLUMNS = ("lead_id", "created_at", "kind", "message", "data", "actor")


@dataclass
class IngestResult:
    index: int
    status: str
    id: int | None = None
    duplicate_of: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status,
            "id": self.id,
            "duplicate_of": self.duplicate_of,
            "errors": self.errors,
        }


def dedupe_window_start(workspace: Workspace, now) -> Any:
    days = workspace.dedupe_window_days
    if days is None:
        days = settings.DEDUPE_WINDOW_DAYS
    return now - timedelta(days=days)


def _existing_originals(workspace_id: int, hashes: list[str], since) -> dict[str, int]:
    """The earliest lead per dedupe hash in the window, live and archived partitions."""
    if not hashes:
        return {}
    sources = ['"leads_lead"', *archived_tables(Lead, since=since)]
    union = " UNION ALL ".join(
        f"SELECT id, dedupe_hash, created_at FROM {table} "
        "WHERE workspace_id = %s AND dedupe_hash = ANY(%s) AND created_at >= %s"
        for table in sources
    )
    params: list[Any] = []
    for _ in sources:
        params += [workspace_id, hashes, since]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT ON (dedupe_hash) dedupe_hash, id FROM ({union}) t "
            "ORDER BY dedupe_hash, created_at, id",
            params,
        )
        return dict(cursor.fetchall())


def _suppressed(workspace_id: int, phones: list[str], emails: list[str]) -> set[tuple[str, str]]:
    if not phones and not emails:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, value FROM leads_suppression "
            "WHERE (workspace_id = %s OR workspace_id IS NULL) AND ("
            "  (kind = 'phone' AND value = ANY(%s)) OR (kind = 'email' AND value = ANY(%s)))",
            [workspace_id, phones, emails],
        )
        return set(cursor.fetchall())


def _copy(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def lead_ingest_batch(
    *,
    workspace: Workspace,
    rows: list[Any],
    source: str = "",
    actor: str = "",
) -> list[IngestResult]:
    """Store the good rows of ``rows``; one result per row, in input order."""
    results: list[IngestResult] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, row in enumerate(rows):
        clean, errors = normalize_row(row)
        if errors:
            results.append(IngestResult(index=index, status=REJECTED, errors=errors))
            continue
        if source and not clean.get("source"):
            clean["source"] = source
        clean["dedupe_hash"] = dedupe_hash(clean.get("phone", ""), clean.get("email", ""))
        results.append(IngestResult(index=index, status=CREATED))
        valid.append((index, clean))
    if not valid:
        return results

    hashes = sorted({clean["dedupe_hash"] for _, clean in valid})
    keys = sorted({lock_key(workspace.id, h) for h in hashes})
    created_ids: list[int] = []
    with transaction.atomic():
        now = timezone.now()
        advisory_xact_locks(keys)
        originals = _existing_originals(workspace.id, hashes, dedupe_window_start(workspace, now))
        phones = [c["phone"] for _, c in valid if c.get("phone")]
        emails = [c["email"] for _, c in valid if c.get("email")]
        suppressed = _suppressed(workspace.id, phones, emails)

        fresh = [(i, c) for i, c in valid if c["dedupe_hash"] not in originals]
        first_in_batch: dict[str, int] = {}
        to_insert: list[tuple[int, dict[str, Any]]] = []
        for index, clean in fresh:
            if clean["dedupe_hash"] in first_in_batch:
                continue
            first_in_batch[clean["dedupe_hash"]] = index
            to_insert.append((index, clean))

        ids: list[int] = []
        if to_insert:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence('leads_lead', 'id')) "
                    "FROM generate_series(1, %s)",
                    [len(to_insert)],
                )
                ids = [row[0] for row in cursor.fetchall()]
        expires_at = (
            now + timedelta(hours=settings.LEAD_EXPIRY_HOURS)
            if settings.LEAD_EXPIRY_HOURS
            else None
        )
        lead_rows: list[tuple] = []
        events: list[tuple] = []
        id_by_hash: dict[str, int] = dict(originals)
        for (index, clean), lead_id in zip(to_insert, ids, strict=True):
            is_suppressed = ("phone", clean.get("phone")) in suppressed or (
                "email",
                clean.get("email"),
            ) in suppressed
            status = Lead.Status.SUPPRESSED if is_suppressed else Lead.Status.PENDING
            lead_rows.append(
                (
                    lead_id,
                    workspace.id,
                    now,
                    now,
                    *[clean.get(name, "") for name in lead_fields.PROFILE],
                    json.dumps(clean.get("custom", {})),
                    clean.get("consent_at"),
                    clean.get("consent_text", ""),
                    clean.get("consent_url", ""),
                    clean.get("consent_ip"),
                    clean["dedupe_hash"],
                    status,
                    "on the do-not-contact list" if is_suppressed else "",
                    "",
                    0,
                    None if is_suppressed else expires_at,
                )
            )
            data = json.dumps({"source": clean.get("source", ""), "actor": actor})
            events.append((lead_id, now, LeadEvent.Kind.CREATED, "Lead received", data, actor))
            if is_suppressed:
                events.append(
                    (
                        lead_id,
                        now,
                        LeadEvent.Kind.SUPPRESSED,
                        "Phone or email is on the do-not-contact list; never routed",
                        "{}",
                        actor,
                    )
                )
            else:
                created_ids.append(lead_id)
            id_by_hash[clean["dedupe_hash"]] = lead_id
            result = results[index]
            result.id = lead_id
            result.status = SUPPRESSED if is_suppressed else CREATED

        for index, clean in valid:
            result = results[index]
            if result.id is not None:
                continue
            original = id_by_hash[clean["dedupe_hash"]]
            result.status = DUPLICATE
            result.duplicate_of = original
            data = {
                "source": clean.get("source", ""),
                "external_id": clean.get("external_id", ""),
                "actor": actor,
            }
            events.append(
                (
                    original,
                    now,
                    LeadEvent.Kind.DUPLICATE_RECEIVED,
                    "The same person was received again",
                    json.dumps(data),
                    actor,
                )
            )

        _copy("leads_lead", LEAD_COLUMNS, lead_rows)
        _copy("leads_leadevent", EVENT_COLUMNS, events)
        if created_ids:
            workspace_id = workspace.id
            transaction.on_commit(lambda: _announce(workspace_id, created_ids))
    return results


def _announce(workspace_id: int, lead_ids: list[int]) -> None:
    """Tell the receivers (routing) after commit. A failing receiver (say the broker is
    down) must not turn a stored batch into an error: the routing sweeper catches up."""
    for receiver, result in leads_ingested.send_robust(
        sender=Lead, workspace_id=workspace_id, lead_ids=lead_ids
    ):
        if isinstance(result, Exception):
            logger.error("leads_ingested receiver %r failed: %r", receiver, result)


def lead_ingest_one(
    *, workspace: Workspace, data: Any, source: str = "", actor: str = ""
) -> IngestResult:
    return lead_ingest_batch(workspace=workspace, rows=[data], source=source, actor=actor)[0]
