"""Lead write paths. Every change records a LeadEvent in the same transaction."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from leads.models import Lead, LeadEvent, Suppression


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
        LeadEvent(
            lead_id=e.lead_id,
            kind=e.kind,
            message=e.message,
            data=e.data,
            actor=e.actor,
            created_at=e.at or now,
        )
        for e in events
    ]
    if rows:
        LeadEvent.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def lead_status_set(
    *,
    lead_ids: Iterable[int],
    status: str,
    reason: str = "",
    actor: str = "",
    data: dict[str, Any] | None = None,
) -> int:
    """Set the status of many leads at once and record a ``status_changed`` event each."""
    ids = list(lead_ids)
    if not ids:
        return 0
    with transaction.atomic():
        now = timezone.now()
        changed = list(
            Lead.objects.filter(id__in=ids).exclude(status=status).values_list("id", "status")
        )
        Lead.objects.filter(id__in=[i for i, _ in changed]).update(
            status=status, status_reason=reason[:255], updated_at=now
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.STATUS_CHANGED,
                    message=f"{old} → {status}" + (f": {reason}" if reason else ""),
                    data={"from": old, "to": status, **(data or {})},
                    actor=actor,
                    at=now,
                )
                for lead_id, old in changed
            ]
        )
    return len(changed)


def suppression_add(
    *,
    kind: str,
    value: str,
    workspace_id: int | None = None,
    reason: str = "",
    source: str = "",
) -> tuple[Suppression, bool]:
    """Add a phone (E.164) or email (lower-cased) to the do-not-contact list. Idempotent.

    Returns the suppression and whether it was created.
    """
    value = value.strip().lower() if kind == Suppression.Kind.EMAIL else value.strip()
    suppression, created = Suppression.objects.get_or_create(
        kind=kind,
        value=value,
        workspace_id=workspace_id,
        defaults={"reason": reason[:255], "source": source[:64]},
    )
    return suppression, created
