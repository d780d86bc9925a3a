"""The dashboard's hourly intake counts are pruned by the nightly maintenance: one DELETE
of the hours older than ``INTAKE_COUNTS_KEEP_DAYS``, every workspace at once."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from leads.intake_counts import intake_counts_prune
from leads.models import IntakeCount, Workspace
from leads.tasks import archive_old_partitions_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def half_past():
    """Half past the hour: a row's hour start is then 30 minutes from any whole-day cutoff."""
    with time_machine.travel(datetime(2026, 11, 24, 12, 30, tzinfo=UTC), tick=False):
        yield


def _hours_ago(workspace: Workspace, *hours_ago: int) -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    IntakeCount.objects.bulk_create(
        IntakeCount(workspace=workspace, hour=now - timedelta(hours=h), created=1)
        for h in hours_ago
    )


def _ages(workspace: Workspace) -> list[int]:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    hours = IntakeCount.objects.filter(workspace=workspace).values_list("hour", flat=True)
    return sorted(int((now - h) / timedelta(hours=1)) for h in hours)


def test_the_nightly_maintenance_deletes_the_hours_older_than_the_setting(
    settings, workspace, partner_workspace
):
    settings.INTAKE_COUNTS_KEEP_DAYS = 35
    for ws in (workspace, partner_workspace):
        _hours_ago(ws, 0, 23, 34 * 24, 35 * 24 - 1, 35 * 24 + 1, 400 * 24)
    archive_old_partitions_task()
    for ws in (workspace, partner_workspace):
        assert _ages(ws) == [0, 23, 34 * 24, 35 * 24 - 1]


def test_the_prune_is_one_delete_whatever_the_rows(
    settings, workspace, partner_workspace, django_assert_num_queries
):
    settings.INTAKE_COUNTS_KEEP_DAYS = 2
    for ws in (workspace, partner_workspace):
        _hours_ago(ws, *range(0, 24 * 10, 3))
    with django_assert_num_queries(1) as queries:
        deleted = intake_counts_prune()
    assert queries.captured_queries[0]["sql"].startswith("DELETE FROM")
    assert deleted == 2 * len([age for age in range(0, 24 * 10, 3) if age >= 48])
    assert max(_ages(workspace)) <= 48 and max(_ages(partner_workspace)) <= 48


def test_zero_days_keeps_every_hour(settings, workspace, django_assert_num_queries):
    settings.INTAKE_COUNTS_KEEP_DAYS = 0
    _hours_ago(workspace, 0, 5000)
    with django_assert_num_queries(0):
        assert intake_counts_prune() == 0
    assert _ages(workspace) == [0, 5000]
