"""Device status changes (pause, resume, disconnected, banned) and the alerts they raise."""

import logging
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from broadcast import metrics
from broadcast.models import Device
from broadcast.services.requests import enrollment_requests_wake_for

logger = logging.getLogger(__name__)
alerts = logging.getLogger("leadbrain.alerts")


def device_alert(device_id: int, text: str) -> None:
    """A device stopped sending by itself (disconnected, banned, paused after failures)."""
    alerts.error("broadcast device %s: %s", device_id, text)
    metrics.device_alerts.labels(direction="down").inc()


def device_recovered(device_id: int, text: str) -> None:
    """A device paused for transient failures resumed by itself: the all-clear."""
    alerts.warning("broadcast device %s recovered: %s", device_id, text)
    metrics.device_alerts.labels(direction="up").inc()


def devices_set_status(
    *, device_ids: Iterable[int], status: str, reason: str = "", actor: str = ""
) -> int:
    """Pause, resume, mark disconnected or banned, in one UPDATE. Resuming clears the failure
    count and wakes the enrollment requests that waited for a device of its workspace. A
    status set here ends automatic probing (a person's pause stays until a person resumes).
    Returns how many devices changed."""
    ids = list(device_ids)
    fields: dict[str, Any] = {"status": status, "status_reason": reason[:500], "probe_at": None}
    if status == Device.Status.ACTIVE:
        fields.update(consecutive_failures=0, lease_until=None, probe_attempts=0)
    changed = Device.objects.filter(pk__in=ids).update(**fields, updated_at=timezone.now())
    if status == Device.Status.ACTIVE and changed:
        enrollment_requests_wake_for(
            workspace_ids=Device.objects.filter(pk__in=ids).values_list("workspace_id", flat=True)
        )
    if status in (Device.Status.DISCONNECTED, Device.Status.BANNED):
        for device_id in ids:
            device_alert(device_id, f"{status}: {reason}")
    logger.info("devices %s -> %s (%s) by %s", ids, status, reason, actor or "system")
    return changed


def device_set_status(*, device: Device, status: str, reason: str = "", actor: str = "") -> Device:
    devices_set_status(device_ids=[device.pk], status=status, reason=reason, actor=actor)
    device.refresh_from_db()
    return device
