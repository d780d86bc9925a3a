"""Reads of the calllogs app: health probes and what the API shows."""

from django.db.models import QuerySet

from calllogs.models import CallLog, ReconciliationRun, WebhookDeadLetter, WebhookEvent


def drift_last_night() -> int:
    """Calls the last reconciliation found missing or differing."""
    run = ReconciliationRun.objects.order_by("-started_at").first()
    return (run.missing + run.differing) if run else 0


def webhook_events_waiting() -> int:
    """Call-URL requests stored but not applied yet (a queue depth)."""
    return WebhookEvent.objects.count()


def webhook_dead_letters() -> int:
    """Call-URL events the drain could not apply (the admin's dead-letter list)."""
    return WebhookDeadLetter.objects.count()


def lead_calls(*, lead_id: int) -> QuerySet[CallLog]:
    """One lead's calls, newest first. The caller has checked the lead is in scope."""
    return CallLog.objects.filter(lead_id=lead_id).order_by("-call_time")
