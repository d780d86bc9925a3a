import logging
import time
from datetime import date, timedelta

from celery import Task, shared_task
from django.core.cache import cache
from django.utils import timezone

from calllogs import services
from core.errors import ClientError
from dialer.models import ViciServer

logger = logging.getLogger(__name__)


def on_vici_server_added(sender: object, *, server_id: int, **kwargs: object) -> None:
    """``dialer.signals.vici_server_added``: the new server's call URLs exist at once."""
    services.server_hook_ensure(server_id=server_id)


RETRY_SECONDS = 300


@shared_task(name="calllogs.tasks.sync_all_task", soft_time_limit=1800, time_limit=1860)
def sync_all_task() -> int:
    """Beat, hourly: one sync task per active server (a failing server stops no other);
    first, the call-URL hook of any server a missed ``vici_server_added`` left without one."""
    services.server_hooks_ensure()
    ids = list(ViciServer.objects.filter(is_active=True).values_list("pk", flat=True))
    for server_id in ids:
        sync_server_task.delay(server_id)
    return len(ids)


@shared_task(name="calllogs.tasks.sync_server_task", bind=True, max_retries=2)
def sync_server_task(self: Task, server_id: int) -> int:
    """One server's hourly sync; a retryable failure is tried again, the error is on the
    server's hook either way (scrubbed)."""
    if not ViciServer.objects.filter(pk=server_id, is_active=True).exists():
        return 0
    try:
        return services.calllogs_sync(server_id=server_id)
    except ClientError as exc:
        if exc.retryable and self.request.retries < self.max_retries:
            raise self.retry(countdown=RETRY_SECONDS) from None
        return 0


@shared_task(name="calllogs.tasks.reconcile_yesterday_task", soft_time_limit=3600, time_limit=3660)
def reconcile_yesterday_task() -> int:
    """Beat, nightly: one reconciliation task per active server with a Vici database."""
    day = (timezone.now() - timedelta(days=1)).date().isoformat()
    ids = list(
        ViciServer.objects.filter(is_active=True).exclude(db_url="").values_list("pk", flat=True)
    )
    for server_id in ids:
        reconcile_server_task.delay(server_id, day)
    return len(ids)


@shared_task(name="calllogs.tasks.reconcile_server_task", bind=True, max_retries=2)
def reconcile_server_task(self: Task, server_id: int, day: str) -> int:
    """One server's reconciliation of one day (ISO date); returns the drift left."""
    if not ViciServer.objects.filter(pk=server_id, is_active=True).exists():
        return 0
    try:
        run = services.calllogs_reconcile(server_id=server_id, day=date.fromisoformat(day))
    except ClientError as exc:
        if exc.retryable and self.request.retries < self.max_retries:
            raise self.retry(countdown=RETRY_SECONDS) from None
        return 0
    return run.drift_after if run else 0


# Drains until empty: a backlog after an outage takes minutes.
@shared_task(name="calllogs.tasks.webhook_events_drain_task", soft_time_limit=600, time_limit=660)
def webhook_events_drain_task() -> int:
    """Apply stored webhook events (woken by the webhook; swept every minute by beat)."""
    return services.webhook_events_drain()


_last_wake = 0.0


def webhook_events_drain_wake(**kwargs: object) -> None:
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


@shared_task(name="calllogs.tasks.calllog_lead_scope_recheck_task")
def calllog_lead_scope_recheck_task() -> int:
    """Each minute: call logs stamped from a lead that was moving meanwhile, stamped again."""
    return services.calllog_lead_scope_recheck()
