from celery import shared_task
from django.conf import settings

from core.alerts.jobs import job_run
from leads.events import leadevent_lead_scope_recheck
from leads.services import (
    idempotency_purge,
    intake_counts_prune,
    partitions_archive_old,
    partitions_cold_store_old,
)


@shared_task(name="leads.tasks.archive_old_partitions_task", soft_time_limit=900, time_limit=960)
def archive_old_partitions_task() -> int:
    with job_run("leads.archive"):
        detached = partitions_archive_old(older_than_days=settings.ARCHIVE_RETENTION_DAYS)
        idempotency_purge()
        intake_counts_prune()
    return sum(len(names) for names in detached.values())


@shared_task(name="leads.tasks.cold_storage_task")
def cold_storage_task() -> int:
    """Nightly after the archive: old archived months to cold files (0 days: off)."""
    if settings.COLD_STORAGE_AFTER_DAYS < 1:
        return 0
    moved = partitions_cold_store_old()
    return sum(len(names) for names in moved.values())


@shared_task(name="leads.tasks.leadevent_lead_scope_recheck_task")
def leadevent_lead_scope_recheck_task() -> int:
    """Each minute: events stamped from a lead that was moving meanwhile, stamped again."""
    return leadevent_lead_scope_recheck()
