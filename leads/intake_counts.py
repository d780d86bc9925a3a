"""Intake verdicts counted per workspace and hour (``IntakeCount``), for the dashboard:
one upsert per intake batch, the last statement of its transaction (so the row lock it
takes is held only for the commit); the nightly maintenance deletes the hours older than
``INTAKE_COUNTS_KEEP_DAYS``."""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.pipeline import Statement

VERDICTS = ("created", "duplicate", "suppressed", "rejected")


def intake_counts_add(*, workspace_id: int, at: datetime, verdicts: Iterable[str]) -> None:
    statement = intake_counts_statement(workspace_id=workspace_id, at=at, verdicts=verdicts)
    if statement:
        with connection.cursor() as cursor:
            cursor.execute(*statement)


def intake_counts_statement(
    *, workspace_id: int, at: datetime, verdicts: Iterable[str]
) -> Statement | None:
    """The upsert ``intake_counts_add`` runs (None: nothing to count), to send in a pipeline."""
    tally = Counter(verdicts)
    if not any(tally[v] for v in VERDICTS):
        return None
    hour = at.replace(minute=0, second=0, microsecond=0)
    return (
        "INSERT INTO leads_intakecount (workspace_id, hour, created, duplicate, "
        "suppressed, rejected) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (hour, workspace_id) DO UPDATE SET "
        "created = leads_intakecount.created + EXCLUDED.created, "
        "duplicate = leads_intakecount.duplicate + EXCLUDED.duplicate, "
        "suppressed = leads_intakecount.suppressed + EXCLUDED.suppressed, "
        "rejected = leads_intakecount.rejected + EXCLUDED.rejected",
        [workspace_id, hour, *(tally[v] for v in VERDICTS)],
    )


def intake_counts_prune(*, keep_days: int | None = None) -> int:
    """Delete the hours older than ``keep_days`` (default ``INTAKE_COUNTS_KEEP_DAYS``; 0:
    keep every hour) in one statement on the ``(hour, workspace)`` index. Returns how many
    rows went."""
    days = settings.INTAKE_COUNTS_KEEP_DAYS if keep_days is None else keep_days
    if days < 1:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM leads_intakecount WHERE hour < %s",
            [timezone.now() - timedelta(days=days)],
        )
        return int(cursor.rowcount)
