from celery import shared_task

from core.partitions import partitions_ensure_all


@shared_task(name="core.tasks.partitions_maintain_task")
def partitions_maintain_task() -> int:
    return len(partitions_ensure_all())
