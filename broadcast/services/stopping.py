"""Stopping enrollments (DNC, sale, opt-out, a reply, an agent or the API): the enrollment
stops, its pending message is cancelled and the lead's history says so, in one
transaction."""

from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from broadcast.models import Enrollment, Message
from leads.models import LeadEvent
from leads.services import EventSpec, lead_events_record


def _stop(
    where: str,
    params: list[Any],
    *,
    reason: str,
    actor: str,
    status: str = Enrollment.Status.STOPPED,
) -> int:
    """Stop active enrollments matching ``where`` and cancel their pending message."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE broadcast_enrollment e SET status = %s, reason = %s, updated_at = %s "
            f"WHERE e.status = %s AND {where} RETURNING e.id, e.lead_id, e.sequence_id",
            [status, reason[:255], now, Enrollment.Status.ACTIVE, *params],
        )
        stopped = cursor.fetchall()
        if not stopped:
            return 0
        cursor.execute(
            "UPDATE broadcast_message SET status = %s, error = %s "
            "WHERE status = %s AND enrollment_id = ANY(%s)",
            [
                Message.Status.CANCELLED,
                reason[:500],
                Message.Status.PENDING,
                [row[0] for row in stopped],
            ],
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.ENROLLMENT_STOPPED,
                    message=f"Sequence stopped: {reason}",
                    actor=actor or "broadcast",
                    data={"enrollment_id": eid, "sequence_id": seq_id},
                    at=now,
                )
                for eid, lead_id, seq_id in stopped
            ]
        )
    return len(stopped)


def enrollment_stop(*, enrollment_id: int, reason: str, actor: str = "") -> int:
    return _stop("e.id = %s", [enrollment_id], reason=reason, actor=actor)


def enrollment_stop_for_leads(
    *, lead_ids: Iterable[int], reason: str, actor: str = "", only_stop_on_reply: bool = False
) -> int:
    """Stop every active enrollment of these leads (DNC, sale, opt-out). Returns the count."""
    ids = list(lead_ids)
    if not ids:
        return 0
    where = "e.lead_id = ANY(%s)"
    if only_stop_on_reply:
        where += " AND e.sequence_id IN (SELECT id FROM broadcast_sequence WHERE stop_on_reply)"
    return _stop(where, [ids], reason=reason, actor=actor)


def enrollment_stop_many(*, enrollment_ids: Iterable[int], reason: str, actor: str = "") -> int:
    return _stop("e.id = ANY(%s)", [list(enrollment_ids)], reason=reason, actor=actor)
