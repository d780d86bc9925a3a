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
    process that woke it less than half a window ago does not even ask Redis. Redis down:
    the per-minute sweeper routes the leads."""
    global _last_wake
    window = settings.ROUTING_WAKE_SECONDS
    now = time.monotonic()
    if now - _last_wake < window / 2:
        return
    _last_wake = now
    try:
        if cache.add("routing:wake", 1, timeout=window):
            route_woken_task.apply_async(countdown=window)
    except Exception:  # noqa: BLE001 - the broker or cache is down: the sweeper catches up
        logger.warning("could not wake routing", exc_info=True)
