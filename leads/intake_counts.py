"""Intake verdicts counted per workspace and hour (``IntakeCount``), for the dashboard:
one upsert per intake batch, the last statement of its transaction (so the row lock it
takes is held only for the commit)."""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db import connection

VERDICTS = ("created", "duplicate", "suppressed", "rejected")


def intake_counts_add(*, workspace_id: int, at: datetime, verdicts: Iterable[str]) -> None:
    tally = Counter(verdicts)
    if not any(tally[v] for v in VERDICTS):
        return
    hour = at.replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_intakecount (workspace_id, hour, created, duplicate, "
            "suppressed, rejected) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (hour, workspace_id) DO UPDATE SET "
            "created = leads_intakecount.created + EXCLUDED.created, "
            "duplicate = leads_intakecount.duplicate + EXCLUDED.duplicate, "
            "suppressed = leads_intakecount.suppressed + EXCLUDED.suppressed, "
            "rejected = leads_intakecount.rejected + EXCLUDED.rejected",
            [workspace_id, hour, *(tally[v] for v in VERDICTS)],
        )
