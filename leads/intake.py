"""Lead intake: validate, normalize, dedupe, suppress and store a batch in one go.

Every entry point (API single and bulk, admin CSV import, demo data) calls
``lead_ingest_batch``. A batch is written inside one transaction that holds a
transaction-level advisory lock per person, so concurrent requests carrying the same
person create exactly one lead. Between its BEGIN and COMMIT it waits on PostgreSQL
twice: once for the locks and every read (sent together, ``core.pipeline``), once for
the writes (a small batch's INSERTs sent together, a large one's COPY: ``leads.intake_sql``).
"""

import json
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.group_commit import GroupCommit
from core.partitions import archived_tables_among
from core.pipeline import Transaction, pipelined, pipelined_transaction
from leads import fields as lead_fields
from leads.intake_counts import intake_counts_add, intake_counts_statement
from leads.intake_sql import (
    intake_reads,
    intake_write,
    originals_statement,
    reserve_ids_statement,
)
from leads.models import Lead, LeadEvent, Workspace
from leads.normalize import dedupe_hash, lock_key, normalize_row
from leads.signals import leads_ingested

logger = logging.getLogger(__name__)

CREATED = "created"
DUPLICATE = "duplicate"
SUPPRESSED = "suppressed"
REJECTED = "rejected"

Row = tuple[int, dict[str, Any]]  # (index in the request, normalized row)


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


def dedupe_window_start(workspace: Workspace, now: datetime) -> datetime:
    days = workspace.dedupe_window_days
    if days is None:
        days = settings.DEDUPE_WINDOW_DAYS
    return now - timedelta(days=days)


def _validate(rows: list[Any], source: str) -> tuple[list[IngestResult], list[Row]]:
    """Normalize every row: a result per row, and the valid ones with their dedupe hash."""
    results: list[IngestResult] = []
    valid: list[Row] = []
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
    return results, valid


@dataclass
class _Batch:
    """One intake transaction: what is already known, and the rows and events to COPY."""

    workspace: Workspace
    actor: str
    now: datetime
    originals: dict[str, int]  # dedupe hash -> the earliest lead in the window
    suppressed: set[tuple[str, str]]  # (kind, value) on the do-not-contact list
    lead_rows: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)

    def is_suppressed(self, clean: dict[str, Any]) -> bool:
        return ("phone", clean.get("phone")) in self.suppressed or (
            "email",
            clean.get("email"),
        ) in self.suppressed

    def event(
        self, lead_id: int, kind: str, message: str, data: dict[str, Any], *, new: bool = False
    ) -> None:
        """``new``: the lead is this batch's own, so its scope is known (see EVENT_COLUMNS)."""
        workspace_id = self.workspace.id if new else None
        self.events.append(
            (lead_id, self.now, kind, message, json.dumps(data), self.actor, workspace_id, None)
        )

    def new_lead(self, lead_id: int, clean: dict[str, Any], expires_at: datetime | None) -> str:
        """Add a new lead's row and events; its verdict (created or suppressed)."""
        suppressed = self.is_suppressed(clean)
        self.lead_rows.append(
            (
                lead_id,
                self.workspace.id,
                self.now,
                self.now,
                *[clean.get(name, "") for name in lead_fields.PROFILE],
                json.dumps(clean.get("custom", {})),
                clean.get("consent_at"),
                clean.get("consent_text", ""),
                clean.get("consent_url", ""),
                clean.get("consent_ip"),
                clean["dedupe_hash"],
                Lead.Status.SUPPRESSED if suppressed else Lead.Status.PENDING,
                "on the do-not-contact list" if suppressed else "",
                "",
                0,
                None if suppressed else expires_at,
            )
        )
        source = clean.get("source", "")
        self.event(
            lead_id,
            LeadEvent.Kind.CREATED,
            "Lead received",
            {"source": source, "actor": self.actor},
            new=True,
        )
        if suppressed:
            self.event(
                lead_id,
                LeadEvent.Kind.SUPPRESSED,
                "Phone or email is on the do-not-contact list; never routed",
                {},
                new=True,
            )
            return SUPPRESSED
        self.created_ids.append(lead_id)
        return CREATED

    def repeat(self, original: int, clean: dict[str, Any]) -> str:
        """The same person again: an event on the original; the verdict says ``suppressed``
        rather than ``duplicate`` when the person must not be contacted."""
        data = {
            "source": clean.get("source", ""),
            "external_id": clean.get("external_id", ""),
            "actor": self.actor,
        }
        self.event(
            original,
            LeadEvent.Kind.DUPLICATE_RECEIVED,
            "The same person was received again",
            data,
        )
        return SUPPRESSED if self.is_suppressed(clean) else DUPLICATE


def _first_of_each_person(valid: list[Row], originals: dict[str, int]) -> list[Row]:
    """The rows that make new leads: the first row of each person not already known."""
    seen: set[str] = set()
    firsts = []
    for index, clean in valid:
        hash_ = clean["dedupe_hash"]
        if hash_ in originals or hash_ in seen:
            continue
        seen.add(hash_)
        firsts.append((index, clean))
    return firsts


def lead_ingest_batch(
    *,
    workspace: Workspace,
    rows: list[Any],
    source: str = "",
    actor: str = "",
    announce: bool = True,
) -> list[IngestResult]:
    """Store the good rows of ``rows``; one result per row, in input order.

    ``announce=False``: the caller sends ``leads_ingested`` itself (``leads_announce``),
    as the CSV import does to stop asking a broker that is down."""
    results, valid = _validate(rows, source)
    if not valid:
        if results:
            intake_counts_add(
                workspace_id=workspace.id, at=timezone.now(), verdicts=[r.status for r in results]
            )
        return results
    hashes = sorted({clean["dedupe_hash"] for _, clean in valid})
    # Two round trips in all: BEGIN goes with the reads, COMMIT with the writes.
    with pipelined_transaction() as tx:
        now = timezone.now()
        since = dedupe_window_start(workspace, now)
        with pipelined(tx) as send:
            reads = intake_reads(
                send,
                workspace_id=workspace.id,
                hashes=hashes,
                since=since,
                now=now,
                lock_keys=[lock_key(workspace.id, h) for h in hashes],
                phones=[c["phone"] for _, c in valid if c.get("phone")],
                emails=[c["email"] for _, c in valid if c.get("email")],
            )
            reserved = send(*reserve_ids_statement(len(hashes)))  # an id per person
        archived = archived_tables_among([name for (name,) in reads.archive.rows()], since=since)
        if archived:  # the window reaches archived partitions: look in them too
            with connection.cursor() as cursor:
                cursor.execute(*originals_statement(workspace.id, hashes, archived, since, now))
                originals = dict(cursor.fetchall())
        else:
            originals = dict(reads.originals.rows())
        batch = _Batch(
            workspace=workspace,
            actor=actor,
            now=now,
            originals=originals,
            suppressed=set(reads.suppressed.rows()) if reads.suppressed else set(),
        )
        _store(batch, valid, results, [lead_id for (lead_id,) in reserved.rows()], tx)
        if batch.created_ids and announce:
            workspace_id, created_ids = workspace.id, batch.created_ids
            tx.on_commit(lambda: leads_announce(workspace_id=workspace_id, lead_ids=created_ids))
    return results


def _store(
    batch: _Batch, valid: list[Row], results: list[IngestResult], ids: list[int], tx: Transaction
) -> None:
    """Fill in the verdicts; write the batch's new leads, every row's events and the
    counts (``ids``: one reserved per person, enough for every new lead), and commit ``tx``
    with them."""
    expires_at = (
        batch.now + timedelta(hours=settings.LEAD_EXPIRY_HOURS)
        if settings.LEAD_EXPIRY_HOURS
        else None
    )
    to_insert = _first_of_each_person(valid, batch.originals)
    id_by_hash = dict(batch.originals)
    if len(ids) < len(to_insert):  # one id was reserved per person: never fewer
        raise RuntimeError(f"{len(ids)} lead ids reserved for {len(to_insert)} new leads")
    for (index, clean), lead_id in zip(to_insert, ids[: len(to_insert)], strict=True):
        results[index].status = batch.new_lead(lead_id, clean, expires_at)
        results[index].id = lead_id
        id_by_hash[clean["dedupe_hash"]] = lead_id
    for index, clean in valid:
        result = results[index]
        if result.id is None:
            result.duplicate_of = id_by_hash[clean["dedupe_hash"]]
            result.status = batch.repeat(result.duplicate_of, clean)
    # The counts last: the row lock of their upsert is held only until the commit.
    intake_write(
        batch.lead_rows,
        batch.events,
        intake_counts_statement(
            workspace_id=batch.workspace.id, at=batch.now, verdicts=[r.status for r in results]
        ),
        tx,
    )


def leads_announce(*, workspace_id: int, lead_ids: list[int]) -> bool:
    """Tell the receivers (routing) after commit; False if one failed. A failing receiver
    (say the broker is down) must not turn a stored batch into an error: the routing
    sweeper catches up."""
    ok = True
    for receiver, result in leads_ingested.send_robust(
        sender=Lead, workspace_id=workspace_id, lead_ids=lead_ids
    ):
        if isinstance(result, Exception):
            ok = False
            logger.error("leads_ingested receiver %r failed: %r", receiver, result)
    return ok


def lead_ingest_one(
    *, workspace: Workspace, data: Any, source: str = "", actor: str = ""
) -> IngestResult:
    """One lead. Outside a transaction, concurrent calls of this process for the same
    workspace, source and actor share one ``lead_ingest_batch`` (group commit: one
    transaction, one write, one commit, one routing wake), each with its own verdict, as
    if each had come alone in some order; inside one (an idempotent request stores its
    response in the same transaction) the lead is written in the caller's transaction."""
    if connection.in_atomic_block or settings.INTAKE_GROUP_MAX < 2:
        return lead_ingest_batch(workspace=workspace, rows=[data], source=source, actor=actor)[0]
    return _single_leads.submit((workspace.pk, source, actor), (workspace, data))


def _ingest_group(key: Hashable, items: list[tuple[Workspace, Any]]) -> list[IngestResult]:
    _workspace_id, source, actor = cast(tuple[int, str, str], key)
    return lead_ingest_batch(
        workspace=items[0][0],
        rows=[data for _, data in items],
        source=source,
        actor=actor,
        announce=False,
    )


def _announce_group(
    key: Hashable, items: list[tuple[Workspace, Any]], results: Sequence[IngestResult]
) -> None:
    """A committed group's new leads, announced once the next group is under way (a slow
    broker holds up only the caller that announces)."""
    created = [r.id for r in results if r.status == CREATED and r.id is not None]
    if created:
        leads_announce(workspace_id=cast(tuple[int, str, str], key)[0], lead_ids=created)


_single_leads: GroupCommit[tuple[Workspace, Any], IngestResult] = GroupCommit(
    _ingest_group, max_items=max(2, settings.INTAKE_GROUP_MAX), after=_announce_group
)
