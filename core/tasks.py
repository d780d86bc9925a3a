import logging

from celery import shared_task
from django.conf import settings

from core.backups import backup_create, backups_prune
from core.partitions import partitions_ensure_all

logger = logging.getLogger(__name__)


@shared_task(name="core.tasks.partitions_maintain_task")
def partitions_maintain_task() -> int:
    return len(partitions_ensure_all())


@shared_task(name="core.tasks.backup_nightly_task")
def backup_nightly_task() -> str:
    """A backup into BACKUP_DIR, then keep the newest BACKUP_KEEP. Empty BACKUP_DIR: off."""
    if not settings.BACKUP_DIR:
        logger.warning("BACKUP_DIR is empty: no nightly backup")
        return ""
    backup = backup_create()
    backups_prune(keep=settings.BACKUP_KEEP)
    return str(backup.path)
