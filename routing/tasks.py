import os
import socket

from celery import shared_task

from routing import services


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
