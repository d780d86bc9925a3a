"""Recording a chunk of outcomes set-wise: the items, where the leads are in VICIdial, and
their history events, in one transaction."""

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import slo
from core.actors import system_actor
from core.backoff import jittered_backoff
from core.db import unnest_columns
from core.locks import advisory_xact_locks, lock_key
from dialer.models import OutboxItem, ViciServer
from dialer.services.outbox import PLACING, outbox_enqueue_status
from dialer.services.send import Outcome
from leads.models import LeadEvent
from leads.services import (
    EventSpec,
    lead_events_record,
    leads_mark_dnc,
    leads_vici_ids_record,
)
from leads.suppressions import LEAD_UNREACHABLE_SQL

FAILED_MESSAGES = {
    "vici_error": "VICIdial push failed: VICIdial refused the request",
    "transport": "VICIdial push failed: VICIdial could not be reached",
    "not_found": "VICIdial push failed: the lead was not found in VICIdial",
    "lead_gone": "VICIdial push failed: the lead no longer exists here",
    "list_missing": "VICIdial push failed: the VICIdial list does not exist",
    "permission": "VICIdial push failed: the API user may not do this",
    "vici_dnc": "VICIdial refused the lead: its phone is on VICIdial's DNC list",
    "vici_campaign_dnc": "VICIdial refused the lead: its phone is on the campaign's DNC list",
    "vici_lead_taken": "Not linked: the VICIdial lead holding this phone belongs to another "
    "lead here",
}
DNC_REFUSALS = ("vici_dnc", "vici_campaign_dnc")
VICI_DNC_REASON = "The phone is on a VICIdial DNC list"


def _retry_at(attempts: int, now: datetime) -> datetime:
    return now + jittered_backoff(attempts, base=15.0)


def _final_state(out: Outcome, attempts: int, now: datetime) -> tuple[str, datetime]:
    """The item's state after this outcome, and when it is due again."""
    if out.login_failed:
        return (
            OutboxItem.State.PENDING,
            now,
        )  # not the item's fault: try again when the server is resumed
    if out.state != OutboxItem.State.PENDING:
        return out.state, now
    if attempts >= settings.DIALER_MAX_ATTEMPTS:
        return OutboxItem.State.DEAD, now
    return OutboxItem.State.PENDING, _retry_at(attempts, now)


def _event(out: Outcome, state: str, list_number: int | None, server_id: int) -> EventSpec | None:
    if state == OutboxItem.State.SENT:
        data: dict[str, Any] = (
            {"operation": out.operation, "vici_server_id": server_id}
            if out.operation == OutboxItem.Operation.DNC
            else {"vici_lead_id": out.vici_lead_id, "vici_list_id": list_number}
        )
        return EventSpec(
            lead_id=out.lead_id,
            kind=LeadEvent.Kind.PUSHED,
            message=out.message,
            actor="dialer",
            data=data,
        )
    if state in (OutboxItem.State.FAILED, OutboxItem.State.DEAD):
        # A fixed message and a short code: a lead's history is read by partners' API keys,
        # so no text from outside (VICIdial's answer, an exception) ever goes into it.
        message = FAILED_MESSAGES.get(out.code, FAILED_MESSAGES["vici_error"])
        if state == OutboxItem.State.DEAD:
            message += " (gave up retrying)"
        return EventSpec(
            lead_id=out.lead_id,
            kind=LeadEvent.Kind.PUSH_FAILED,
            message=message,
            actor="dialer",
            data={"code": out.code or "vici_error", "operation": out.operation, **out.details},
        )
    return None


def _write_items(
    cursor: Any, outcomes: list[Outcome], rows: list[tuple[Any, ...]], now: datetime
) -> list[float]:
    """Write the items; returns the push lag (seconds from enqueue to VICIdial's answer) of
    each add that went through."""
    ids, states, nexts, vids, raws, errors = unnest_columns(rows)
    cursor.execute(
        "UPDATE dialer_outboxitem o SET state = CASE WHEN k.state = %s "
        "  AND o.payload <> k.payload THEN %s ELSE k.state END, "
        "next_attempt_at = k.next_at, "
        "vici_lead_id = COALESCE(k.vid, o.vici_lead_id), last_response = k.raw, "
        "last_error = k.err, leased_until = NULL, updated_at = %s, "
        "sent_at = CASE WHEN k.state = %s THEN %s ELSE o.sent_at END, "
        "attempts = CASE WHEN k.login THEN GREATEST(o.attempts - 1, 0) ELSE o.attempts END "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], %s::bigint[], "
        "%s::text[], %s::text[], %s::boolean[], %s::jsonb[]) "
        "k(id, state, next_at, vid, raw, err, login, payload) "
        "WHERE o.id = k.id RETURNING o.operation, o.state, o.created_at",
        [
            OutboxItem.State.SENT,
            OutboxItem.State.PENDING,
            now,
            OutboxItem.State.SENT,
            now,
            ids,
            states,
            nexts,
            vids,
            raws,
            errors,
            [o.login_failed for o in outcomes],
            [json.dumps(o.payload) for o in outcomes],
        ],
    )
    return [
        (now - created).total_seconds()
        for operation, state, created in cursor.fetchall()
        if operation == OutboxItem.Operation.ADD and state == OutboxItem.State.SENT
    ]


def _stop_dialing_unreachable(cursor: Any, placed: list[int]) -> None:
    """Leads that reached VICIdial while being marked do-not-contact get their DNC status
    there at once. The row locks order this with any concurrent status change: either it
    is seen here, or its own receiver runs after this commit and sees the lead in VICIdial."""
    if not placed:
        return
    cursor.execute(
        f"SELECT l.id, {LEAD_UNREACHABLE_SQL} FROM leads_lead l WHERE l.id = ANY(%s) "
        "ORDER BY l.id FOR SHARE OF l",
        [sorted(placed)],
    )
    unreachable = [lead_id for lead_id, blocked in cursor.fetchall() if blocked]
    if unreachable:
        outbox_enqueue_status(lead_ids=unreachable, status=settings.DIALER_STATUS_MAP["dnc"])


def _taken_vici_leads(cursor: Any, outcomes: list[Outcome], server_id: int) -> None:
    """One Vici lead, one of ours. A duplicate names the Vici lead that holds the phone; if
    another of our leads already has it on this server (another workspace's lead with the
    same phone), this lead is not linked to it: the outcome becomes final, naming both.
    Adds on this server are serialised per Vici lead id (advisory locks, in order), so two
    chunks of two drains cannot both claim one Vici lead."""
    adds = [o for o in outcomes if o.operation == OutboxItem.Operation.ADD and o.vici_lead_id]
    if not adds:
        return
    advisory_xact_locks(lock_key("vici_lead", server_id, o.vici_lead_id) for o in adds)
    if not any(o.duplicate for o in adds):
        return
    cursor.execute(
        "SELECT l.vici_lead_id, l.id FROM leads_lead l WHERE l.vici_lead_id = ANY(%s) "
        "AND EXISTS (SELECT 1 FROM dialer_outboxitem o WHERE o.lead_id = l.id "
        "AND o.server_id = %s AND o.state = %s AND o.operation IN (%s, %s))",
        [
            sorted({vid for o in adds if o.duplicate and (vid := o.vici_lead_id)}),
            server_id,
            OutboxItem.State.SENT,
            *PLACING,
        ],
    )
    owners: dict[int, set[int]] = {}
    for vici_lead_id, lead_id in cursor.fetchall():
        owners.setdefault(vici_lead_id, set()).add(lead_id)
    # Leads VICIdial just created own theirs; then the duplicates, oldest item first.
    for out in sorted(adds, key=lambda o: (o.duplicate, o.item_id)):
        holders = owners.setdefault(out.vici_lead_id or 0, set())
        others = sorted(holders - {out.lead_id})
        if out.duplicate and others:
            out.state, out.code = OutboxItem.State.FAILED, "vici_lead_taken"
            out.error = f"VICIdial lead {out.vici_lead_id} belongs to lead {others[0]} here"
            out.details = {"other_lead_id": others[0], "vici_lead_id": out.vici_lead_id}
            out.vici_lead_id = None
        else:
            holders.add(out.lead_id)


def outcomes_record(
    outcomes: list[Outcome],
    attempts: dict[int, int],
    lists: dict[int, int | None],
    server_id: int,
) -> None:
    """Write a chunk of results set-wise, in one transaction: items, where the leads are in
    VICIdial, their events; leads VICIdial refused as DNC become do-not-contact here."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        _taken_vici_leads(cursor, outcomes, server_id)
        rows: list[tuple[Any, ...]] = []
        events: list[EventSpec] = []
        placements: list[tuple[int, int, int]] = []
        placed: list[int] = []
        for out in outcomes:
            state, next_at = _final_state(out, attempts[out.item_id], now)
            rows.append(
                (out.item_id, state, next_at, out.vici_lead_id, out.raw[:5000], out.error[:2000])
            )
            list_number = lists[out.item_id]
            if state == OutboxItem.State.SENT and out.vici_lead_id and list_number:
                placements.append((out.lead_id, out.vici_lead_id, list_number))
                if out.operation in (OutboxItem.Operation.ADD, OutboxItem.Operation.MOVE):
                    placed.append(out.lead_id)
            if (event := _event(out, state, lists[out.item_id], server_id)) is not None:
                events.append(event)
        lags = _write_items(cursor, outcomes, rows, now)
        leads_vici_ids_record(placements=placements)
        lead_events_record(events=events)
        if on_vici_dnc := sorted({o.lead_id for o in outcomes if o.code in DNC_REFUSALS}):
            leads_mark_dnc(  # VICIdial's DNC list is a do-not-contact fact here too
                lead_ids=on_vici_dnc,
                reason=VICI_DNC_REASON,
                actor=system_actor("vicidial", "dnc_list"),
                source="vicidial_dnc",
            )
        _stop_dialing_unreachable(cursor, placed)
        if any(o.state == OutboxItem.State.SENT for o in outcomes):
            ViciServer.objects.filter(pk=server_id).update(last_success_at=now, last_error="")
    label = str(server_id)  # SLOs per server: requests, errors, push lag (core.slo)
    errors = sum(1 for o in outcomes if o.error)
    slo.record(
        counts=[
            ("dialer_requests_total", len(outcomes), label),
            ("dialer_errors_total", errors, label),
        ],
        observations=[("dialer_push_lag_seconds", lags, label)],
    )
