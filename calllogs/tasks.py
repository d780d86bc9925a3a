import logging
import time
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from calllogs import services
from dialer.models import ViciServer

logger = logging.getLogger(__name__)


@shared_task(name="calllogs.tasks.sync_all_task", soft_time_limit=1800, time_limit=1860)
def sync_all_task() -> int:
    total = 0
    # Servers without database access are read through phone_number_log.
    for server_id in ViciServer.objects.filter(is_active=True).values_list("pk", flat=True):
        total += services.calllogs_sync(server_id=server_id)
    return total


@shared_task(name="calllogs.tasks.reconcile_yesterday_task", soft_time_limit=3600, time_limit=3660)
def reconcile_yesterday_task() -> int:
    day = (timezone.now() - timedelta(days=1)).date()
    runs = 0
    for server_id in (
        ViciServer.objects.filter(is_active=True).exclude(db_url="").values_list("pk", flat=True)
    ):
        services.calllogs_reconcile(server_id=server_id, day=day)
        runs += 1
    return runs


# Drains until empty: a backlog after an outage takes minutes.
@shared_task(name="calllogs.tasks.webhook_events_drain_task", soft_time_limit=600, time_limit=660)
def webhook_events_drain_task() -> int:
    """Apply stored webhook events (woken by the webhook; swept every minute by beat)."""
    return services.webhook_events_drain()


_last_wake = 0.0


def webhook_events_drain_wake(**kwargs) -> None:
    """Receiver of ``calllogs.signals.webhook_events_stored``: at most one drain task queued
    a second, whatever the request rate (a process that woke it less than half a second ago
    does not even ask Redis). The task runs when the second is over, so it also applies
    every event stored during that second."""
    global _last_wake
    now = time.monotonic()
    if now - _last_wake < 0.5:
        return
    _last_wake = now
    try:
        if cache.add("calllogs:webhook-drain", 1, timeout=1):
            webhook_events_drain_task.apply_async(countdown=1.0)
    except Exception:  # Redis down: the per-minute sweeper applies the event
        logger.warning("could not wake the webhook drain", exc_info=True)
