from celery import shared_task
from django.conf import settings

from leads.services import idempotency_purge, partitions_archive_old


@shared_task(name="leads.tasks.archive_old_partitions_task", soft_time_limit=900, time_limit=960)
def archive_old_partitions_task() -> int:
    detached = partitions_archive_old(older_than_days=settings.ARCHIVE_RETENTION_DAYS)
    idempotency_purge()
    return sum(len(names) for names in detached.values())
