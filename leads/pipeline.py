"""Set-wise writes of the lead table for the apps above it (routing, dialer).

The leads app owns ``leads_lead``: routing and the dialer never write it themselves; they
call these services, which do one statement per batch (some as statements the caller
sends with its own, ``core.pipeline``). A lead is claimed for routing by its row lock,
decided, and written back with its outcome in the same transaction; the dialer records
where a lead lives in VICIdial.
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
from core.pipeline import Pending, Sender, Statement
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


def leads_lock_for_routing(
    send: Sender,
    *,
    batch_size: int,
    lead_ids: Sequence[int] | None = None,
    unless_exists: str = "",
) -> Pending:
    """Queue, in ``send``'s message, the claim of up to ``batch_size`` pending leads (or the
    given ones): ``FOR UPDATE SKIP LOCKED``, so two workers never take the same lead, and
    the row locks are the claim, held until the caller's transaction (which decides and
    writes the outcomes) ends. A worker that dies mid-way loses its claim with its
    connection. Read the rows with ``routing_leads``.

    A lead whose ``locked_at`` is set was claimed by a release that wrote its claim in a
    transaction of its own (a rolling deploy): left alone until the claim is
    ``ROUTING_LOCK_TIMEOUT_SECONDS`` old. ``unless_exists`` is a subquery over the
    caller's own tables (the lead is ``l``) naming leads to leave alone.

    Each row carries whether the lead must not be contacted now (a suppression added since
    intake), read in the same statement."""
    stale = timezone.now() - timedelta(seconds=settings.ROUTING_LOCK_TIMEOUT_SECONDS)
    filters = "l.status = %s AND (l.locked_at IS NULL OR l.locked_at < %s)"
    params: list[Any] = [Lead.Status.PENDING, stale]
    if lead_ids is not None:
        filters += " AND l.id = ANY(%s)"
        params.append(list(lead_ids))
    elif unless_exists:
        filters += f" AND NOT EXISTS ({unless_exists})"
    columns = ", ".join(f"l.{c}" for c in ROUTING_COLUMNS)
    return send(
        f"SELECT {columns}, {LEAD_UNREACHABLE_SQL} FROM leads_lead l WHERE {filters} "
        "ORDER BY l.created_at LIMIT %s FOR UPDATE OF l SKIP LOCKED",
        [*params, batch_size],
    )


def routing_leads(locked: Pending) -> tuple[list[dict[str, Any]], set[int]]:
    """The leads of a ``leads_lock_for_routing`` claim (``ROUTING_COLUMNS``, oldest first)
    and the ids of those that must not be contacted now."""
    leads, unreachable = [], set()
    for row in locked.rows():
        lead = dict(zip(ROUTING_COLUMNS, row[:-1], strict=True))
        lead["custom"] = json_value(lead["custom"])
        leads.append(lead)
        if row[-1]:
            unreachable.add(lead["id"])
    leads.sort(key=lambda r: (r["created_at"], r["id"]))
    return leads, unreachable


def _in_partitions(created_at: Sequence[datetime]) -> tuple[str, list[Any]]:
    """A filter on the partition key: the leads' own ``created_at`` values, when the caller
    knows them, so PostgreSQL plans the statement for the partitions that hold them only."""
    if not created_at:
        return "", []
    return " AND l.created_at = ANY(%s)", [sorted(set(created_at))]


@dataclass
class RoutingOutcome:
    """What routing decided for one lead."""

    lead_id: int
    status: str
    reason: str
    destination_workspace_id: int | None = None
    rule_id: int | None = None


def leads_routing_apply_statement(
    *, outcomes: Sequence[RoutingOutcome], now: datetime, created_at: Sequence[datetime] = ()
) -> Statement | None:
    """The one UPDATE that writes a batch of routing outcomes and releases the claims (None
    for no outcomes), for a caller that sends it with its other writes (``core.pipeline``).
    ``created_at``: the leads' own values, when known (``_in_partitions``)."""
    if not outcomes:
        return None
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
    return (
        "UPDATE leads_lead l SET status = k.status, status_reason = k.reason, "
        "destination_workspace_id = k.ws, routing_rule_id = k.rule, routed_at = k.routed, "
        "locked_by = '', locked_at = NULL, updated_at = %s, "
        "routing_attempts = l.routing_attempts + 1 "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::bigint[], "
        "%s::bigint[], %s::timestamptz[]) k(id, status, reason, ws, rule, routed) "
        f"WHERE l.id = k.id{partitions}",
        [now, *unnest_columns(rows), *partition_params],
    )


def leads_routing_apply(
    *, outcomes: Sequence[RoutingOutcome], now: datetime, created_at: Sequence[datetime] = ()
) -> int:
    """Write a batch of routing outcomes in one UPDATE and release the claims.
    ``created_at``: the leads' own values, when known (``_in_partitions``)."""
    statement = leads_routing_apply_statement(outcomes=outcomes, now=now, created_at=created_at)
    if statement is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(*statement)
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
