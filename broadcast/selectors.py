"""Reads of the broadcast app: queue depths for /health and /metrics, a lead's messages and
enrollments, and the API's lists, scoped to the caller's workspace (None: staff, every one)."""

from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone

from broadcast.models import Device, Enrollment, EnrollmentRequest, Message, Sequence
from leads.models import Lead, Workspace


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


def sequences_for(*, workspace: Workspace | None = None) -> QuerySet[Sequence]:
    queryset = Sequence.objects.all()
    if workspace is not None:
        queryset = queryset.filter(workspace=workspace)
    return queryset


def sequence_get(*, sequence_id: int, workspace: Workspace | None = None) -> Sequence | None:
    return sequences_for(workspace=workspace).filter(pk=sequence_id).first()


def enrollments_for(
    *, workspace: Workspace | None = None, lead_id: int | None = None
) -> QuerySet[Enrollment]:
    """Enrollments newest first, of one lead if ``lead_id`` is given."""
    queryset = Enrollment.objects.order_by("-id")
    if workspace is not None:
        queryset = queryset.filter(sequence__workspace=workspace)
    if lead_id is not None:
        queryset = queryset.filter(lead_id=lead_id)
    return queryset


def enrollment_get(*, enrollment_id: int, workspace: Workspace | None = None) -> Enrollment | None:
    queryset = Enrollment.objects.filter(pk=enrollment_id)
    if workspace is not None:
        queryset = queryset.filter(sequence__workspace=workspace)
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
