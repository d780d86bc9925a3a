"""Reads of the calllogs app: health probes and what the API shows."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from calllogs.models import (
    CallLog,
    ReconciliationRun,
    ServerHook,
    WebhookDeadLetter,
    WebhookEvent,
)
from core.alerts.models import Severity
from core.alerts.registry import Finding


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


def webhook_apply_lag_seconds() -> float:
    """How long the oldest stored call-URL request has waited to be applied (0: none)."""
    oldest = WebhookEvent.objects.order_by("id").values_list("received_at", flat=True).first()
    return round((timezone.now() - oldest).total_seconds(), 3) if oldest else 0.0


# --- alerts --------------------------------------------------------------------------------


def sync_failing_servers() -> int:
    """Active servers whose last sync or reconciliation failed (a gauge)."""
    return ServerHook.objects.filter(server__is_active=True).exclude(last_error="").count()


def alert_sync_failing() -> list[Finding]:
    """Active servers whose last hourly sync or nightly reconciliation failed (the error
    stays on the server's hook until a sync succeeds)."""
    hooks = (
        ServerHook.objects.filter(server__is_active=True)
        .exclude(last_error="")
        .select_related("server")
        .only("last_error", "server__name")
    )
    return [
        Finding(
            str(hook.server_id),
            f"Call-log sync of {hook.server.name} failing: {hook.last_error[:200]}",
            Severity.CRITICAL,
            detail="Call logs > Server hooks shows the error (secrets masked).",
        )
        for hook in hooks
    ]


def alert_reconcile_drift() -> list[Finding]:
    """The latest reconciliation of each server found calls missing or differing."""
    latest = ReconciliationRun.objects.order_by("server_id", "-started_at").distinct("server_id")
    return [
        Finding(
            str(run.server_id),
            f"Reconciliation of {run.server.name} for {run.day} found drift: {run.missing} "
            f"missing, {run.differing} differing ({run.drift_after} left after repair)",
            Severity.CRITICAL if run.drift_after else Severity.WARNING,
        )
        for run in latest.select_related("server")
        if run.missing or run.differing or run.drift_after
    ]


def alert_dead_letters_growing() -> list[Finding]:
    """Call-URL events dead-lettered in the last hour (the list is growing)."""
    since = timezone.now() - timedelta(hours=1)
    new = WebhookDeadLetter.objects.filter(failed_at__gte=since).count()
    if not new:
        return []
    total = WebhookDeadLetter.objects.count()
    return [
        Finding(
            "",
            f"Webhook dead letters growing: {new} in the last hour ({total} in the list)",
            Severity.WARNING,
            detail="Call logs > Webhook dead letters shows why; fix the cause, then Retry.",
        )
    ]
