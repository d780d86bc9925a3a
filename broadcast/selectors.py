"""Reads of the broadcast app: queue depths for /health and /metrics, a lead's messages and
enrollments, and the API's lists, scoped to the caller's workspaces (``workspace_ids``; None:
every one)."""

from collections.abc import Collection
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db.models import Count, JSONField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, JSONObject, TruncHour
from django.utils import timezone

from broadcast.models import Device, Enrollment, EnrollmentRequest, Message, Sequence
from core import slo
from core.alerts.models import Severity
from core.alerts.registry import Finding
from leads.models import Lead


def due_message_count() -> int:
    """Messages whose time has come and that are not sent yet (a graded queue on /health)."""
    return Message.objects.filter(
        status=Message.Status.PENDING, scheduled_at__lte=timezone.now()
    ).count()


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


def devices_for(*, workspace_ids: WorkspaceIds = None) -> QuerySet[Device]:
    queryset = Device.objects.all()
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


# --- SLOs (/metrics, /health) and alerts ----------------------------------------------------


def send_lag_p95_seconds() -> float:
    """p95 of send time minus scheduled time over the SLO window (0: nothing sent)."""
    p95 = slo.window_quantile("broadcast_send_lag_seconds", 0.95, settings.SLO_WINDOW_SECONDS)
    return round(p95, 3) if p95 is not None else 0.0


def pacing_violations() -> int:
    """Sends closer to their device's previous send than its minimum interval, over the
    SLO window. Must stay 0."""
    window = slo.window_sum("broadcast_pacing_violations_total", settings.SLO_WINDOW_SECONDS)
    return int(window.get("", 0))


# Devices banned or logged out (they wait for a person), and devices paused by failed sends
# (auto-paused: probed, they resume by themselves). A person's pause is not an alert.
ALERTING = Q(status__in=[Device.Status.BANNED, Device.Status.DISCONNECTED]) | Q(
    status=Device.Status.PAUSED, probe_at__isnull=False
)


def devices_alerting() -> int:
    return Device.objects.filter(ALERTING).count()


def alert_devices_down() -> list[Finding]:
    """A finding per device banned, logged out or auto-paused (``ALERTING``)."""
    down = Device.objects.filter(ALERTING).only("name", "phone", "status", "status_reason")
    return [
        Finding(
            str(device.pk),
            f"WhatsApp device {device.name} {_DOWN[device.status]}: {device.status_reason[:200]}",
            Severity.CRITICAL if device.status == Device.Status.BANNED else Severity.WARNING,
        )
        for device in down
    ]


_DOWN = {"banned": "is banned", "disconnected": "is logged out", "paused": "auto-paused"}


def lead_sequence_placement() -> Coalesce:
    """Over a lead row: its newest enrollment, ``{"id", "name", "status"}`` of the sequence,
    or a request waiting for an active device (status ``waiting``) (``leads.placement``)."""
    enrolled = (
        Enrollment.objects.filter(lead_id=OuterRef("pk"))
        .order_by("-id")
        .values(json=JSONObject(id="sequence_id", name="sequence__name", status="status"))
    )
    waiting = (
        EnrollmentRequest.objects.filter(
            status=EnrollmentRequest.Status.PENDING, lead_ids__contains=[OuterRef("pk")]
        )
        .order_by("-id")
        .values(json=JSONObject(id="sequence_id", name="sequence__name", status=Value("waiting")))
    )
    return Coalesce(
        Subquery(enrolled[:1], output_field=JSONField()),
        Subquery(waiting[:1], output_field=JSONField()),
        output_field=JSONField(),
    )


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
