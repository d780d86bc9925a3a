"""Reads of the calllogs app: health probes and what the API shows."""

from typing import Any

from django.db.models import Count, Q, QuerySet

from calllogs.models import (
    CallLog,
    DispositionMap,
    ReconciliationRun,
    WebhookDeadLetter,
    WebhookEvent,
)
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
