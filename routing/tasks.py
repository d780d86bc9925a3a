import logging
import os
import socket
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from routing import services

logger = logging.getLogger(__name__)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Routes for up to 50 s (route_until_empty), after the fast-path batch.
@shared_task(name="routing.tasks.route_pending_task", soft_time_limit=110, time_limit=140)
def route_pending_task(lead_ids: list[int] | None = None) -> int:
    """Route the given leads (fast path after intake), then whatever else is pending."""
    routed = 0
    if lead_ids:
        routed += services.route_pending(
            worker_id=_worker_id(), lead_ids=lead_ids, batch_size=len(lead_ids)
        ).claimed
    return routed + services.route_until_empty(worker_id=_worker_id(), seconds=50)


@shared_task(name="routing.tasks.retry_drain_task")
def retry_drain_task() -> int:
    return services.retry_drain(worker_id=_worker_id())


@shared_task(name="routing.tasks.route_woken_task")
def route_woken_task() -> int:
    """Route everything pending (woken by intake at most once per wake window)."""
    return services.route_until_empty(worker_id=_worker_id(), seconds=50)


_last_wake = 0.0


def routing_wake() -> None:
    """Receiver side of ``leads_ingested``: one routing task per wake window
    (``ROUTING_WAKE_SECONDS``), whatever the intake rate, so the broker carries work, not
    a message per lead. The task starts when its window is over, so it also routes every
    lead committed during the window; a lead committed later opens the next window. A
    process that woke it less than half a window ago does not even ask Redis."""
    global _last_wake
    window = settings.ROUTING_WAKE_SECONDS
    now = time.monotonic()
    if now - _last_wake < window / 2:
        return
    if cache.add("routing:wake", 1, timeout=window):
        # Raises when the broker is down: the signal's sender logs it and says so (the
        # leads wait in their table and the per-minute sweeper routes them).
        route_woken_task.apply_async(countdown=window)
    _last_wake = now
