import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from broadcast import services

logger = logging.getLogger(__name__)


# Sends for BROADCAST_DISPATCH_SECONDS, then waits for the sends in flight (gateway timeout).
@shared_task(
    name="broadcast.tasks.dispatch_task",
    expires=60,
    soft_time_limit=settings.BROADCAST_DISPATCH_SECONDS + 45,
    time_limit=settings.BROADCAST_DISPATCH_SECONDS + 75,
)
def dispatch_task(seconds: float | None = None) -> dict[str, Any]:
    """Run the paced dispatcher for about a minute. Several may run at once (SKIP LOCKED)."""
    stats = services.dispatch_run(seconds=seconds or settings.BROADCAST_DISPATCH_SECONDS)
    return stats.__dict__


@shared_task(name="broadcast.tasks.devices_probe_task", expires=15)
def devices_probe_task() -> dict[str, Any]:
    """Probe devices paused for transient gateway failures; resume those that answer."""
    return services.devices_probe().as_dict()


@shared_task(
    name="broadcast.tasks.enrollment_requests_process_task", soft_time_limit=600, time_limit=660
)
def enrollment_requests_process_task(workspace_ids: list[int] | None = None) -> dict[str, Any]:
    """Carry out pending enrollment requests (woken on commit; swept every minute by beat)."""
    return services.enrollment_requests_process(workspace_ids=workspace_ids).as_dict()


def enrollment_requests_wake(
    sender: Any = None, *, workspace_ids: list[int] | None = None, **kwargs: Any
) -> None:
    """Receiver of ``broadcast.signals.enrollment_requests_waiting``. Redis down: the rows
    wait in their table and beat's sweeper carries them out."""
    try:
        enrollment_requests_process_task.delay(workspace_ids=workspace_ids)
    except Exception:  # the broker is unreachable: nothing is lost, the sweeper runs them
        logger.warning("could not wake the enrollment request worker", exc_info=True)


@shared_task(name="broadcast.tasks.enroll_task", soft_time_limit=600, time_limit=660)
def enroll_task(lead_ids: list[int], sequence_id: int, actor: str = "") -> dict[str, Any]:
    """Kept for messages queued before enrollment requests became a table; new work goes
    through ``enrollment_requests_process_task``."""
    result = services.enrollment_create_many(
        lead_ids=lead_ids, sequence_id=sequence_id, actor=actor
    )
    return result.as_dict()


@shared_task(name="broadcast.tasks.message_lead_scope_recheck_task")
def message_lead_scope_recheck_task() -> int:
    """Each minute: messages stamped from a lead that was moving meanwhile, stamped again."""
    return services.message_lead_scope_recheck()
