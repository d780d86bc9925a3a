"""Reads of the broadcast app: queue depths for /health and /metrics, a lead's messages and
enrollments, and the API's lists, scoped to the caller's workspaces (``workspace_ids``; None:
every one)."""

from collections.abc import Collection
from datetime import UTC
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from broadcast.models import Device, Enrollment, EnrollmentRequest, Message, Sequence
from leads.models import Lead


def due_message_count() -> int:
    """Messages whose time has come and that are not sent yet (a graded queue on /health)."""
    return Message.objects.filter(status="pending", scheduled_at__lte=timezone.now()).count()


def enrollment_requests_waiting() -> int:
    """Leads in pending enrollment requests (waiting for an active device or a worker): a
    graded queue on /health."""
    pending = EnrollmentRequest.objects.filter(status=EnrollmentRequest.Status.PENDING)
    return pending.aggregate(n=Sum("lead_count"))["n"] or 0


def devices_down_count() -> int:
    """Devices that cannot send: paused, disconnected or banned."""
    return Device.objects.exclude(status=Device.Status.ACTIVE).count()


WorkspaceIds = Collection[int] | None


def sequences_for(*, workspace_ids: WorkspaceIds = None) -> QuerySet[Sequence]:
    queryset = Sequence.objects.all()
    if workspace_ids is not None:
        queryset = queryset.filter(workspace_id__in=list(workspace_ids))
    return queryset


def sequence_get(*, sequence_id: int, workspace_ids: WorkspaceIds = None) -> Sequence | None:
    return sequences_for(workspace_ids=workspace_ids).filter(pk=sequence_id).first()


def enrollments_for(
    *, workspace_ids: WorkspaceIds = None, lead_id: int | None = None
) -> QuerySet[Enrollment]:
    """Enrollments newest first, of one lead if ``lead_id`` is given."""
    queryset = Enrollment.objects.order_by("-id")
    if workspace_ids is not None:
        queryset = queryset.filter(sequence__workspace_id__in=list(workspace_ids))
    if lead_id is not None:
        queryset = queryset.filter(lead_id=lead_id)
    return queryset


def enrollment_get(*, enrollment_id: int, workspace_ids: WorkspaceIds = None) -> Enrollment | None:
    queryset = Enrollment.objects.filter(pk=enrollment_id)
    if workspace_ids is not None:
        queryset = queryset.filter(sequence__workspace_id__in=list(workspace_ids))
    return queryset.first()


def lead_messages(*, lead_id: int) -> QuerySet[Message]:
    """A lead's messages, the latest scheduled first (the lead's own scope is checked by
    the caller, with ``leads.selectors.lead_get``)."""
    return Message.objects.filter(lead_id=lead_id).order_by("-scheduled_at")


def lead_messages_panel(lead: Lead) -> dict[str, Any]:
    """The context of the lead page's "Sequences and messages" panel."""
    messages = list(lead_messages(lead_id=lead.pk).select_related("device")[:200])
    enrollments = list(
        Enrollment.objects.filter(lead_id=lead.pk).select_related("sequence", "device")[:50]
    )
    return {"messages": messages, "enrollments": enrollments}


def dashboard_broadcast(window: Any) -> dict[str, Any]:
    """The dashboard's "Messages" panel: messages sent per hour over the last 24 hours
    (``message_sent_idx``) and devices by state, of the devices of the person's workspaces;
    devices that cannot send are failures that need a person. Two queries."""
    ids = window.workspace_ids
    devices = Device.objects.order_by()
    messages = Message.objects.filter(sent_at__gte=window.since).order_by()
    if ids is not None:
        devices = devices.filter(workspace_id__in=list(ids))
        messages = messages.filter(device_id__in=devices.values("pk"))
    per_hour = {
        row["hour"]: row["n"]
        for row in messages.annotate(hour=TruncHour("sent_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("*"))
    }
    hours = window.hours()
    sends = [per_hour.get(h, 0) for h in hours]
    states = {row["status"]: row["n"] for row in devices.values("status").annotate(n=Count("*"))}
    by_state = [
        {"status": value, "label": label, "count": states.get(value, 0)}
        for value, label in Device.Status.choices
    ]
    return {
        "today": sum(n for n, h in zip(sends, hours, strict=True) if h >= window.today),
        "day": sum(sends),
        "devices": by_state,
        "chart": {"title": "Messages sent per hour", "series": [("sent", "#1565c0", sends)]},
        "attention": [
            {
                "label": f"Devices {label.lower()}",
                "count": states.get(value, 0),
                "model": "broadcast.device",
                "query": f"status__exact={value}",
            }
            for value, label in Device.Status.choices
            if value != Device.Status.ACTIVE
        ],
    }
