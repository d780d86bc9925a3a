import logging

from celery import shared_task
from django.conf import settings

from core.alerts.engine import alerts_evaluate
from core.alerts.jobs import job_run
from core.backups import backup_create, backups_prune
from core.partitions import partitions_analyze_young, partitions_ensure_all

logger = logging.getLogger(__name__)


@shared_task(name="core.tasks.partitions_maintain_task")
def partitions_maintain_task() -> int:
    with job_run("core.partitions"):
        return len(partitions_ensure_all())


@shared_task(name="core.tasks.partitions_analyze_task", soft_time_limit=50, time_limit=58)
def partitions_analyze_task() -> int:
    """Beat, every 5 s: statistics for the partitions that fill faster than autovacuum
    analyzes them (a new month's first minute). Each run is one catalog query when nothing
    is due, so it keeps no heartbeat row of its own."""
    return len(partitions_analyze_young())


@shared_task(name="core.tasks.backup_nightly_task")
def backup_nightly_task() -> str:
    """A backup into BACKUP_DIR, then keep the newest BACKUP_KEEP. Empty BACKUP_DIR: off."""
    if not settings.BACKUP_DIR:
        logger.warning("BACKUP_DIR is empty: no nightly backup")
        return ""
    with job_run("core.backup"):
        backup = backup_create()
        backups_prune(keep=settings.BACKUP_KEEP)
    return str(backup.path)


@shared_task(name="core.tasks.alerts_evaluate_task", soft_time_limit=50, time_limit=58)
def alerts_evaluate_task() -> int:
    """Beat, every minute: evaluate the alert rules and send what fired or resolved (its
    last run is a Job run too, so the admin shows the evaluation is alive)."""
    with job_run("core.alerts"):
        return alerts_evaluate().sent
