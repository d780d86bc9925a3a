from celery import shared_task
from django.conf import settings

from broadcast import services


# Sends for BROADCAST_DISPATCH_SECONDS, then waits for the sends in flight (gateway timeout).
@shared_task(
    name="broadcast.tasks.dispatch_task",
    expires=60,
    soft_time_limit=settings.BROADCAST_DISPATCH_SECONDS + 45,
    time_limit=settings.BROADCAST_DISPATCH_SECONDS + 75,
)
def dispatch_task(seconds: float | None = None) -> dict:
    """Run the paced dispatcher for about a minute. Several may run at once (SKIP LOCKED)."""
    stats = services.dispatch_run(seconds=seconds or settings.BROADCAST_DISPATCH_SECONDS)
    return stats.__dict__


@shared_task(name="broadcast.tasks.enroll_task", soft_time_limit=600, time_limit=660)
def enroll_task(lead_ids: list[int], sequence_id: int, actor: str = "") -> dict:
    """Enroll in the background (admin actions over large selections)."""
    result = services.enrollment_create_many(
        lead_ids=lead_ids, sequence_id=sequence_id, actor=actor
    )
    return result.as_dict()
