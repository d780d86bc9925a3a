"""The outbox of VICIdial operations: enqueue (routing, lead edits, statuses) and retry.

One open item per lead, operation and list (a partial unique index); a second change of
the same lead merges into the open item, even in flight (the drain then sends it again).
"""

import json
import re
from collections.abc import Sequence
from typing import Any

import phonenumbers
from django.db import connection, transaction
from django.utils import timezone

from core.db import unnest_columns
from dialer.client import VICI_LEAD_FIELDS, split_phone
from dialer.models import OutboxItem, ViciList
from leads import fields as lead_fields
from leads.models import Lead, LeadEvent
from leads.services import EventSpec, lead_events_record


def _enqueue(lead_ids: Sequence[int], vici_list_id: int, operation: str) -> int:
    if not lead_ids:
        return 0
    vici_list = ViciList.objects.select_related("server").get(pk=vici_list_id)
    skip_sent_add = (
        "AND NOT EXISTS (SELECT 1 FROM dialer_outboxitem o WHERE o.lead_id = l.id "
        "AND o.operation = %s AND o.state = %s AND o.vici_list_id = %s)"
        if operation == OutboxItem.Operation.ADD
        else ""
    )
    params: list[Any] = [
        vici_list.server_id,
        vici_list.pk,
        operation,
        OutboxItem.State.PENDING,
        list(lead_ids),
    ]
    if skip_sent_add:
        params += [OutboxItem.Operation.ADD, OutboxItem.State.SENT, vici_list.pk]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO dialer_outboxitem (lead_id, server_id, vici_list_id, operation, payload,
                state, attempts, next_attempt_at, last_response, last_error, created_at,
                updated_at)
            SELECT l.id, %s, %s, %s, '{{}}', %s, 0, now(), '', '', now(), now()
            FROM unnest(%s::bigint[]) AS l(id)
            WHERE TRUE {skip_sent_add}
            ON CONFLICT DO NOTHING
            """,
            params,
        )
        return int(cursor.rowcount)


def outbox_enqueue_add(*, lead_ids: Sequence[int], vici_list_id: int) -> int:
    """Enqueue an add_lead of each lead into the ViciList ``vici_list_id``. Idempotent."""
    return _enqueue(lead_ids, vici_list_id, OutboxItem.Operation.ADD)


def outbox_enqueue_move(*, lead_ids: Sequence[int], vici_list_id: int) -> int:
    """Enqueue a move (update_lead list_id_field) of each lead to ``vici_list_id``."""
    return _enqueue(lead_ids, vici_list_id, OutboxItem.Operation.MOVE)


# The operations that place a lead in a VICIdial list.
PLACING = (OutboxItem.Operation.ADD, OutboxItem.Operation.MOVE)

# Lead fields mirrored into VICIdial when they change here (phone goes as code + number).
VICI_FIELDS = tuple(name for name in lead_fields.PERSON if name in VICI_LEAD_FIELDS)


def _where_in_vici(lead_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """(lead_id, ViciList pk, server id) of the list each lead was last pushed or moved to."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (lead_id) lead_id, vici_list_id, server_id "
            "FROM dialer_outboxitem WHERE lead_id = ANY(%s) AND operation IN (%s, %s) "
            "AND state = %s ORDER BY lead_id, sent_at DESC, id DESC",
            [list(lead_ids), *PLACING, OutboxItem.State.SENT],
        )
        rows: list[tuple[int, int, int]] = cursor.fetchall()
        return rows


# Items that stop dialing (a Vici DNC status, the DNC list) are due an hour back, so the
# drain's claim (oldest due first) takes them ahead of any backlog of adds.
_STOP_DIALING_DUE = "now() - interval '1 hour'"
# The open states, written into an ON CONFLICT target: it names the partial unique index by
# its predicate, which must be in the statement's text (a parameter cannot stand for it).
OPEN_SQL = ", ".join(
    f"'{state}'" for state in (OutboxItem.State.PENDING, OutboxItem.State.IN_FLIGHT)
)


def _enqueue_payload(lead_ids: Sequence[int], operation: str, payload: dict[str, Any]) -> int:
    """One open item per lead and operation: a second change merges into the open one (even
    in flight: the drain then keeps it pending, so the newer fields are sent too)."""
    placed = _where_in_vici(lead_ids)
    if not placed or not payload:
        return 0
    leads, lists, servers = unnest_columns(placed)
    due = _STOP_DIALING_DUE if operation == OutboxItem.Operation.STATUS else "now()"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO dialer_outboxitem (lead_id, server_id, vici_list_id, operation, payload,
                state, attempts, next_attempt_at, last_response, last_error, created_at,
                updated_at)
            SELECT k.lead, k.server, k.list, %s, %s::jsonb, %s, 0, {due}, '', '', now(),
                now()
            FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) k(lead, list, server)
            ON CONFLICT (lead_id, operation, vici_list_id)
                WHERE state IN ({OPEN_SQL})
            DO UPDATE SET payload = dialer_outboxitem.payload || EXCLUDED.payload,
                updated_at = now()
            """,
            [operation, json.dumps(payload), OutboxItem.State.PENDING, leads, lists, servers],
        )
        return int(cursor.rowcount)


def _dnc_payloads(lead_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(lead id, payload) of each lead with a phone: the number as VICIdial stores it."""
    rows = []
    phones = Lead.objects.filter(id__in=list(lead_ids)).exclude(phone="").values_list("id", "phone")
    for lead_id, phone in phones:
        try:
            code, national = split_phone(phone)
        except phonenumbers.NumberParseException:
            code, national = "", re.sub(r"\D", "", phone)
        rows.append((lead_id, json.dumps({"phone_code": code, "phone_number": national})))
    return rows


def outbox_enqueue_dnc(*, lead_ids: Sequence[int]) -> int:
    """Enqueue ``add_dnc_phone`` of each lead's phone on every VICIdial server (inactive
    ones too: their items wait until the server is active again). Every server, not only
    those the lead's workspace pushes to: routing can send the person there tomorrow, and a
    number also reaches VICIdial through the call center's own lists and manual dials; and
    servers are few. One item per lead and server: none while one is open, none again once
    that phone was sent."""
    rows = _dnc_payloads(lead_ids)
    if not rows:
        return 0
    leads, payloads = unnest_columns(rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO dialer_outboxitem (lead_id, server_id, vici_list_id, operation, payload,
                state, attempts, next_attempt_at, last_response, last_error, created_at,
                updated_at)
            SELECT k.lead, s.id, NULL, %s, k.payload, %s, 0, {_STOP_DIALING_DUE},
                '', '', now(), now()
            FROM unnest(%s::bigint[], %s::jsonb[]) k(lead, payload)
            CROSS JOIN dialer_viciserver s
            WHERE NOT EXISTS (
                SELECT 1 FROM dialer_outboxitem o WHERE o.lead_id = k.lead
                AND o.server_id = s.id AND o.operation = %s AND o.state = %s
                AND o.payload ->> 'phone_number' = k.payload ->> 'phone_number')
            ON CONFLICT DO NOTHING
            """,
            [
                OutboxItem.Operation.DNC,
                OutboxItem.State.PENDING,
                leads,
                payloads,
                OutboxItem.Operation.DNC,
                OutboxItem.State.SENT,
            ],
        )
        return int(cursor.rowcount)


def outbox_enqueue_update(*, lead_ids: Sequence[int], fields: dict[str, Any]) -> int:
    """Enqueue an ``update_lead`` of these fields for leads that are in VICIdial."""
    payload: dict[str, str] = {}
    for name, value in fields.items():
        if name not in VICI_FIELDS or value in (None, ""):
            continue
        if name == "phone":  # VICIdial writes phone_number only with update_phone_number=Y
            payload["phone_code"], payload["phone_number"] = split_phone(str(value))
            payload["update_phone_number"] = "Y"
        else:
            payload[name] = str(value)
    return _enqueue_payload(lead_ids, OutboxItem.Operation.UPDATE, payload)


def outbox_enqueue_status(*, lead_ids: Sequence[int], status: str) -> int:
    """Enqueue an ``update_lead`` of the VICIdial status (e.g. DNC) for leads in VICIdial."""
    return _enqueue_payload(lead_ids, OutboxItem.Operation.STATUS, {"status": status})


def outbox_retry(*, item_ids: Sequence[int]) -> int:
    """Admin "retry": failed or dead items go back to pending now."""
    return OutboxItem.objects.filter(
        pk__in=item_ids, state__in=[OutboxItem.State.FAILED, OutboxItem.State.DEAD]
    ).update(
        state=OutboxItem.State.PENDING,
        next_attempt_at=timezone.now(),
        attempts=0,
        updated_at=timezone.now(),
    )


def outbox_retry_all_failed(*, server_id: int | None = None) -> int:
    items = OutboxItem.objects.filter(state__in=[OutboxItem.State.FAILED, OutboxItem.State.DEAD])
    if server_id:
        items = items.filter(server_id=server_id)
    return outbox_retry(item_ids=list(items.values_list("pk", flat=True)))


# Operations that would put a lead in front of a dialer; a status (DNC) always goes.
CONTACT_OPERATIONS = (
    OutboxItem.Operation.ADD,
    OutboxItem.Operation.MOVE,
    OutboxItem.Operation.UPDATE,
)
CANCELLED_MESSAGE = "VICIdial push cancelled: the lead must not be contacted"


def outbox_cancel(*, item_ids: Sequence[int], reason: str) -> int:
    """Cancel these open items (add, move, update) and say so on each lead's history."""
    if not item_ids:
        return 0
    with transaction.atomic():
        cancelled = list(
            OutboxItem.objects.filter(
                pk__in=list(item_ids),
                state__in=[OutboxItem.State.PENDING, OutboxItem.State.IN_FLIGHT],
                operation__in=CONTACT_OPERATIONS,
            ).values_list("pk", "lead_id", "operation")
        )
        OutboxItem.objects.filter(pk__in=[pk for pk, _, _ in cancelled]).update(
            state=OutboxItem.State.CANCELLED,
            last_error=reason[:2000],
            leased_until=None,
            updated_at=timezone.now(),
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.PUSH_CANCELLED,
                    message=CANCELLED_MESSAGE,
                    data={"operation": operation, "reason": reason},
                    actor="dialer",
                )
                for _, lead_id, operation in cancelled
            ]
        )
    return len(cancelled)


def outbox_cancel_for_leads(*, lead_ids: Sequence[int], reason: str) -> int:
    """Cancel the pending adds, moves and updates of leads that must not be contacted
    (in-flight ones are checked again when their answer is recorded)."""
    item_ids = OutboxItem.objects.filter(
        lead_id__in=list(lead_ids),
        state=OutboxItem.State.PENDING,
        operation__in=CONTACT_OPERATIONS,
    ).values_list("pk", flat=True)
    return outbox_cancel(item_ids=list(item_ids), reason=reason)
