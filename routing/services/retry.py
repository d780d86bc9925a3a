"""The retry queue: failed batches wait with backoff; past the maximum they are failed."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.backoff import jittered_backoff
from leads.models import Lead
from leads.services import (
    lead_send_to_routing,
    leads_routing_failed,
    leads_routing_release,
    leads_routing_retry,
)
from routing.models import RetryItem


def retry_delay(attempts: int) -> timedelta:
    """Up to 30 s x 2^(attempts-1) with jitter, capped at 1 h."""
    return jittered_backoff(attempts, base=30.0)


def retry_schedule(*, lead_ids: list[int], error: str) -> int:
    """Put failed leads in the retry queue; past the maximum attempts they are failed."""
    now = timezone.now()
    with transaction.atomic():
        existing = {
            r.lead_id: r for r in RetryItem.objects.select_for_update().filter(lead_id__in=lead_ids)
        }
        dead: list[int] = []
        to_create: list[RetryItem] = []
        to_update: list[RetryItem] = []
        for lead_id in lead_ids:
            item = existing.get(lead_id) or RetryItem(lead_id=lead_id, attempts=0)
            item.attempts += 1
            item.last_error = error[:5000]
            item.next_retry_at = now + retry_delay(item.attempts)
            item.updated_at = now
            if item.attempts >= settings.ROUTING_MAX_ATTEMPTS:
                item.is_dead = True
                dead.append(lead_id)
            (to_update if item.pk else to_create).append(item)
        RetryItem.objects.bulk_create(to_create)
        RetryItem.objects.bulk_update(
            to_update, ["attempts", "last_error", "next_retry_at", "is_dead", "updated_at"]
        )
        leads_routing_release(lead_ids=lead_ids)
        if dead:
            leads_routing_failed(lead_ids=dead, error=error, actor="routing")
    return len(lead_ids)


def retry_now(*, lead_ids: list[int], actor: str = "") -> int:
    """Admin "retry now": failed leads back to pending, routed on the next drain."""
    now = timezone.now()
    with transaction.atomic():
        RetryItem.objects.filter(lead_id__in=lead_ids).update(
            is_dead=False, attempts=0, next_retry_at=now, updated_at=now
        )
        return leads_routing_retry(lead_ids=lead_ids, actor=actor)


def lead_reroute(*, lead: Lead, actor: str = "") -> Lead:
    """Send a lead through routing again (a new destination may move it in VICIdial).
    Refused (409) for a lead that must not be contacted or whose outcome is final."""
    with transaction.atomic():
        lead = lead_send_to_routing(lead=lead, actor=actor)
        RetryItem.objects.filter(lead_id=lead.pk).delete()
    return lead
