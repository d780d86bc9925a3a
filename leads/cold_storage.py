"""Cold storage of old archived partitions (the mechanism: core/coldstorage.py).

Nightly, after the archive, every archived partition wholly older than
``COLD_STORAGE_AFTER_DAYS`` (leads, lead events, call logs, messages, routing log) is exported
to a gzip CSV file in ``COLD_STORAGE_DIR`` with a manifest and dropped from the database.

Dedupe does not see cold leads. That is safe only while cold storage starts after the
longest dedupe window (DEDUPE_WINDOW_DAYS and every workspace's own window), so a run is
refused otherwise, ``manage.py check`` reports the settings, and a workspace's window cannot
be set longer in admin. The history page and API answer for a cold lead with the file that
holds it (``leads.selectors.lead_cold_location``).
"""

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from core.coldstorage import cold_store_lock, cold_store_unlock, partition_cold_store
from core.errors import ApplicationError
from core.partitions import archived_tables, partitioned_models
from leads.errors import BUSY, INVALID, INVALID_SETTING
from leads.models import Workspace


def dedupe_window_longest() -> tuple[int, str]:
    """The longest dedupe window in days, and whose it is."""
    longest = (settings.DEDUPE_WINDOW_DAYS, "DEDUPE_WINDOW_DAYS")
    workspace_max = Workspace.objects.aggregate(days=Max("dedupe_window_days"))["days"]
    if workspace_max is not None and workspace_max > longest[0]:
        slug = (
            Workspace.objects.filter(dedupe_window_days=workspace_max)
            .values_list("slug", flat=True)
            .first()
        )
        longest = (workspace_max, f"workspace {slug}")
    return longest


def cold_storage_refusal(after_days: int) -> str:
    """Why cold storage after ``after_days`` days would break dedupe ("" when it would not)."""
    days, whose = dedupe_window_longest()
    if after_days < days:
        return (
            f"Cold storage after {after_days} days is shorter than the longest dedupe window "
            f"({days} days, {whose}): dedupe would no longer see leads it must compare with. "
            "Set COLD_STORAGE_AFTER_DAYS to at least that."
        )
    return ""


def partitions_cold_store_old(
    *,
    older_than_days: int | None = None,
    directory: Path | None = None,
    dry_run: bool = False,
) -> dict[str, list[str]]:
    """Export and drop the archived partitions wholly older than the cutoff, per model."""
    days = settings.COLD_STORAGE_AFTER_DAYS if older_than_days is None else older_than_days
    if days < 1:
        raise ApplicationError("Cold storage needs at least 1 day.", code=INVALID)
    refusal = cold_storage_refusal(days)
    if refusal:
        raise ApplicationError(refusal, code=INVALID_SETTING)
    folder = Path(directory or settings.COLD_STORAGE_DIR)
    cutoff = timezone.now() - timedelta(days=days)
    due = {
        model: [t for t in archived_tables(model) if t not in archived_tables(model, since=cutoff)]
        for model in partitioned_models()
    }
    result = {
        model._meta.label: [t.split(".")[-1].strip('"') for t in tables]
        for model, tables in due.items()
    }
    if dry_run:
        return result
    if not cold_store_lock():
        raise ApplicationError("Cold storage is already running.", code=BUSY, status_code=409)
    try:
        for model in due:
            for partition in result[model._meta.label]:
                partition_cold_store(
                    parent_table=model._meta.db_table, partition=partition, directory=folder
                )
    finally:
        cold_store_unlock()
    return result
