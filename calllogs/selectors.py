"""Reads of the calllogs app: health probes and what the API shows."""

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from calllogs.models import (
    CallLog,
    DispositionMap,
    ReconciliationRun,
    ServerHook,
    WebhookDeadLetter,
    WebhookEvent,
)
from core.alerts.models import Severity
from core.alerts.registry import Finding
from dialer.selectors import vici_lists_in_scope


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


def dashboard_calls(window: Any) -> dict[str, Any]:
    """The dashboard's "Calls" panel: calls today and in the last 24 hours by disposition
    (``calllog_time_idx``; a person who sees some workspaces sees the calls of their
    workspaces' VICIdial lists), named from the disposition table; and the call-URL events
    the drain could not apply (admins only: they are per server)."""
    ids = window.workspace_ids
    calls = CallLog.objects.filter(call_time__gte=window.since).order_by()
    if ids is not None:
        lists = vici_lists_in_scope(workspace_ids=ids)
        pairs = Q(pk__in=[])
        for _, server_id, number in lists:
            pairs |= Q(server_id=server_id, list_id=number)
        calls = calls.filter(pairs)
    rows = list(
        calls.values("status").annotate(
            day=Count("id"), today=Count("id", filter=Q(call_time__gte=window.today))
        )
    )
    names = dict(
        DispositionMap.objects.filter(status__in=[r["status"] for r in rows]).values_list(
            "status", "name"
        )
    )
    rows.sort(key=lambda r: (-r["day"], r["status"]))
    dispositions = [
        {**r, "name": names.get(r["status"], "") or ("(none yet)" if not r["status"] else "")}
        for r in rows
    ]
    attention = []
    if ids is None:
        attention.append(
            {
                "label": "Call-URL events that could not be applied",
                "count": WebhookDeadLetter.objects.count(),
                "model": "calllogs.webhookdeadletter",
                "query": "",
            }
        )
    return {
        "today": sum(r["today"] for r in rows),
        "day": sum(r["day"] for r in rows),
        "dispositions": dispositions[:12],
        "attention": attention,
    }
