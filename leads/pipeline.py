"""Set-wise writes of the lead table for the apps above it (routing, dialer).

The leads app owns ``leads_lead``: routing and the dialer never write it themselves; they
call these services, which do one statement per batch. A lead is claimed for routing
(``locked_by``/``locked_at``), decided, and written back with its outcome; the dialer
records where a lead lives in VICIdial.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.db import json_value, unnest_columns
from core.errors import ConflictError
from leads import errors
from leads import fields as lead_fields
from leads.events import EventSpec, lead_events_record
from leads.models import Lead, LeadEvent
from leads.signals import leads_ingested, send_on_commit
from leads.suppressions import LEAD_UNREACHABLE_SQL

# The columns routing needs to decide (conditions, dedupe, expiry, where it is in VICIdial).
ROUTING_COLUMNS = (
    "id",
    "created_at",
    "workspace_id",
    *lead_fields.PROFILE,
    "status",
    "custom",
    "dedupe_hash",
    "expires_at",
    "vici_list_number",
)

# Statuses from which a lead may not go back to routing: it must not be contacted, or its
# outcome is final.
NOT_REROUTABLE: dict[str, str] = {
    Lead.Status.SUPPRESSED: "the lead is on the do-not-contact list",
    Lead.Status.DNC: "the lead asked not to be contacted",
    Lead.Status.SALE: "the lead is closed (sale)",
    Lead.Status.NOT_INTERESTED: "the lead is closed (not interested)",
}


def leads_claim_for_routing(
    *,
    worker_id: str,
    batch_size: int,
    lead_ids: Sequence[int] | None = None,
    unless_exists: str = "",
) -> list[dict[str, Any]]:
    """Claim up to ``batch_size`` pending leads (or the given ones) for ``worker_id``.

    ``FOR UPDATE SKIP LOCKED``: two workers never claim the same lead; a claim older than
    ``ROUTING_LOCK_TIMEOUT_SECONDS`` is stale and may be taken again. ``unless_exists`` is a
    subquery over the caller's own tables (the lead is ``l``) naming leads to leave alone.

    Its own transaction, in two steps: the pending leads are read and row-locked, then,
    only when it found some, the claim is written by id and partition key. The UPDATE is
    planned for the partitions that hold them alone, and a claim that finds nothing (the
    routing task's last look after every pass) writes nothing and fires none of the
    statement triggers of leads (the lead scope's five).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.ROUTING_LOCK_TIMEOUT_SECONDS)
    filters = "l.status = %s AND (l.locked_at IS NULL OR l.locked_at < %s)"
    params: list[Any] = [Lead.Status.PENDING, stale]
    if lead_ids is not None:
        filters += " AND l.id = ANY(%s)"
        params.append(list(lead_ids))
    elif unless_exists:
        filters += f" AND NOT EXISTS ({unless_exists})"
    columns = ", ".join(f"l.{c}" for c in ROUTING_COLUMNS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns} FROM leads_lead l WHERE {filters} "
                "ORDER BY l.created_at LIMIT %s FOR UPDATE OF l SKIP LOCKED",
                [*params, batch_size],
            )
            rows = [dict(zip(ROUTING_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
            if rows:
                partitions, partition_params = _in_partitions([r["created_at"] for r in rows])
                cursor.execute(
                    "UPDATE leads_lead l SET locked_by = %s, locked_at = %s "
                    f"WHERE l.id = ANY(%s){partitions}",
                    [worker_id, now, [row["id"] for row in rows], *partition_params],
                )
    for row in rows:
        row["custom"] = json_value(row["custom"])
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]))


def _in_partitions(created_at: Sequence[datetime]) -> tuple[str, list[Any]]:
    """A filter on the partition key: the leads' own ``created_at`` values, when the caller
    knows them, so PostgreSQL plans the statement for the partitions that hold them only."""
    if not created_at:
        return "", []
    return " AND l.created_at = ANY(%s)", [sorted(set(created_at))]


def leads_hold_for_routing(
    *, lead_ids: Sequence[int], worker_id: str, created_at: Sequence[datetime] = ()
) -> dict[int, bool]:
    """Row-lock the claimed leads this worker still holds (still pending, not re-claimed
    after a stale lock) for the decision transaction. Returns their ids, each with whether
    it must not be contacted now (a suppression added since intake). ``created_at``: the
    leads' own values, when known (``_in_partitions``)."""
    partitions, partition_params = _in_partitions(created_at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.id, {LEAD_UNREACHABLE_SQL} FROM leads_lead l "
            f"WHERE l.id = ANY(%s){partitions} AND l.locked_by = %s AND l.status = %s "
            "FOR UPDATE OF l",
            [list(lead_ids), *partition_params, worker_id, Lead.Status.PENDING],
        )
        return dict(cursor.fetchall())


@dataclass
class RoutingOutcome:
    """What routing decided for one lead."""

    lead_id: int
    status: str
    reason: str
    destination_workspace_id: int | None = None
    rule_id: int | None = None


def leads_routing_apply(
    *, outcomes: Sequence[RoutingOutcome], now: datetime, created_at: Sequence[datetime] = ()
) -> int:
    """Write a batch of routing outcomes in one UPDATE and release the claims.
    ``created_at``: the leads' own values, when known (``_in_partitions``)."""
    if not outcomes:
        return 0
    rows = [
        (
            o.lead_id,
            o.status,
            o.reason[:255],
            o.destination_workspace_id,
            o.rule_id,
            now if o.destination_workspace_id else None,
        )
        for o in outcomes
    ]
    partitions, partition_params = _in_partitions(created_at)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead l SET status = k.status, status_reason = k.reason, "
            "destination_workspace_id = k.ws, routing_rule_id = k.rule, routed_at = k.routed, "
            "locked_by = '', locked_at = NULL, updated_at = %s, "
            "routing_attempts = l.routing_attempts + 1 "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::bigint[], "
            "%s::bigint[], %s::timestamptz[]) k(id, status, reason, ws, rule, routed) "
            f"WHERE l.id = k.id{partitions}",
            [now, *unnest_columns(rows), *partition_params],
        )
        return int(cursor.rowcount)


def leads_routing_release(*, lead_ids: Sequence[int]) -> None:
    """Give claimed leads back (their batch failed; the retry queue has them)."""
    Lead.objects.filter(id__in=list(lead_ids)).update(locked_by="", locked_at=None)


def leads_routing_failed(*, lead_ids: Sequence[int], error: str, actor: str) -> int:
    """Pending leads that routing gave up on become ``failed``, with an event each."""
    now = timezone.now()
    with transaction.atomic():
        failed = list(
            Lead.objects.filter(id__in=list(lead_ids), status=Lead.Status.PENDING).values_list(
                "id", flat=True
            )
        )
        Lead.objects.filter(id__in=failed).update(
            status=Lead.Status.FAILED,
            status_reason=error[:255],
            locked_by="",
            locked_at=None,
            updated_at=now,
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.ROUTING_FAILED,
                    message=f"Routing failed {settings.ROUTING_MAX_ATTEMPTS} times: {error}",
                    data={"error": error},
                    actor=actor,
                    at=now,
                )
                for lead_id in failed
            ]
        )
    return len(failed)


def leads_routing_retry(*, lead_ids: Sequence[int], actor: str) -> int:
    """Failed leads back to pending ("retry now"); the next routing run takes them."""
    now = timezone.now()
    with transaction.atomic():
        count = Lead.objects.filter(id__in=list(lead_ids), status=Lead.Status.FAILED).update(
            status=Lead.Status.PENDING,
            status_reason="",
            locked_by="",
            locked_at=None,
            updated_at=now,
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.STATUS_CHANGED,
                    message="Routing retried by hand",
                    actor=actor,
                    at=now,
                )
                for lead_id in lead_ids
            ]
        )
    return count


def lead_send_to_routing(*, lead: Lead, actor: str) -> Lead:
    """Send one lead through routing again (reroute). A lead that must not be contacted,
    or whose outcome is final, is refused with a 409 naming the reason."""
    with transaction.atomic():
        current = (
            Lead.objects.select_for_update()
            .filter(pk=lead.pk, created_at=lead.created_at)
            .values_list("status", flat=True)
            .first()
        )
        if current in NOT_REROUTABLE:
            raise ConflictError(
                f"This lead cannot be rerouted: {NOT_REROUTABLE[current]}.",
                code=errors.NOT_REROUTABLE,
                errors={"status": [current]},
            )
        Lead.objects.filter(pk=lead.pk, created_at=lead.created_at).update(
            status=Lead.Status.PENDING,
            status_reason="reroute requested",
            locked_by="",
            locked_at=None,
            expires_at=None,
            updated_at=timezone.now(),
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead.pk,
                    kind=LeadEvent.Kind.STATUS_CHANGED,
                    message="Sent back to routing (reroute)",
                    actor=actor,
                    data={"from": current, "to": Lead.Status.PENDING},
                )
            ]
        )
        # Routing is woken as for a new lead (not left to the per-minute sweeper).
        send_on_commit(leads_ingested, workspace_id=lead.workspace_id, lead_ids=[lead.pk])
    lead.refresh_from_db()
    return lead


def leads_vici_ids_record(*, placements: Iterable[tuple[int, int, int]]) -> int:
    """Record where leads live in VICIdial: (lead id, Vici lead_id, Vici list number)."""
    rows = list(placements)
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead l SET vici_lead_id = k.vid, vici_list_number = k.list, "
            "updated_at = %s FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) "
            "k(id, vid, list) WHERE l.id = k.id",
            [timezone.now(), *unnest_columns(rows)],
        )
        return int(cursor.rowcount)
