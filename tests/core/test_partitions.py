from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.utils import timezone

from core.partitions import (
    archived_tables,
    partition_archive,
    partition_ensure,
    partitions_analyze_young,
    partitions_list,
)
from core.tasks import partitions_analyze_task
from leads.models import Lead, LeadEvent

pytestmark = pytest.mark.django_db


def _lead(workspace, created_at):
    return Lead.objects.create(
        workspace=workspace,
        created_at=created_at,
        updated_at=created_at,
        dedupe_hash="x",
        phone="+15005550006",
    )


def _partition_of(table, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_migrate_creates_monthly_partitions_around_now():
    starts = {p.start for p in partitions_list(Lead)}
    this_month = timezone.now().date().replace(day=1)
    assert this_month in starts
    assert len(starts) >= 3


def test_row_far_in_future_goes_to_default_and_moves_when_its_partition_is_created(workspace):
    when = datetime(2031, 5, 17, 12, tzinfo=UTC)
    lead = _lead(workspace, when)
    assert _partition_of("leads_lead", lead.pk) == "leads_lead_default"

    created = partition_ensure(Lead, start=date(2031, 5, 1), months=1)

    assert created == ["leads_lead_p203105"]
    assert _partition_of("leads_lead", lead.pk) == "leads_lead_p203105"
    assert Lead.objects.get(pk=lead.pk).phone == "+15005550006"
    assert partition_ensure(Lead, start=date(2031, 5, 1), months=1) == []


def test_archive_detaches_old_partitions_without_deleting(workspace):
    old = datetime(2020, 3, 3, tzinfo=UTC)
    partition_ensure(Lead, start=date(2020, 3, 1), months=1)
    lead = _lead(workspace, old)

    assert partition_archive(Lead, older_than=datetime(2020, 6, 1, tzinfo=UTC), dry_run=True) == [
        "leads_lead_p202003"
    ]
    assert Lead.objects.filter(pk=lead.pk).exists()

    archived = partition_archive(Lead, older_than=datetime(2020, 6, 1, tzinfo=UTC))

    assert archived == ["leads_lead_p202003"]
    assert not Lead.objects.filter(pk=lead.pk).exists()
    tables = archived_tables(Lead)
    assert tables == ['"archive"."leads_lead_p202003"']
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT phone FROM {tables[0]} WHERE id = %s", [lead.pk])
        assert cursor.fetchone() == ("+15005550006",)


def test_event_table_is_partitioned_too():
    assert partitions_list(LeadEvent)


def _fill(workspace, start, count, first=0):
    """``count`` leads of distinct people, created in the month from ``start``."""
    stamp = datetime(start.year, start.month, 2, tzinfo=UTC)
    Lead.objects.bulk_create(
        [
            Lead(
                workspace=workspace,
                created_at=stamp,
                updated_at=stamp,
                dedupe_hash=f"{n:064x}",
                phone=f"+1500555{n:04d}",
            )
            for n in range(first, first + count)
        ],
        batch_size=1000,
    )


def _lookup_plan(workspace, start):
    from leads import intake_sql

    since = datetime(start.year, start.month, 1, tzinfo=UTC)
    now = datetime(start.year, start.month, 20, tzinfo=UTC)
    hashes = [f"{n:064x}" for n in range(20)]
    sql, params = intake_sql.originals_statement(workspace.id, hashes, [], since, now)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return [line for (line,) in cursor.fetchall()]


def _analyzed(name):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = %s",
            [name],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_new_months_partition_gets_statistics_once_it_fills(workspace, settings):
    """Made empty months ahead (and analyzed empty), a partition has no statistics when its
    month's leads arrive: the dedupe lookup reads the workspace's leads through another
    index until something analyzes it. Beat's task does within seconds."""
    settings.PARTITION_ANALYZE_MIN_ROWS = 1000
    start = date(2032, 7, 1)
    partition_ensure(Lead, start=start, months=1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead_p203207")
    _fill(workspace, start, 1500)
    assert not any("dedupe_hash_idx" in line for line in _lookup_plan(workspace, start))

    assert partitions_analyze_task.run() >= 1  # the task beat sends, as a function

    assert _analyzed("leads_lead_p203207")
    plan = _lookup_plan(workspace, start)
    scans = [line for line in plan if "Scan" in line]
    assert scans and all("leads_lead_p203207_dedupe_hash_idx" in line for line in scans), plan
    assert "leads_lead_p203207" not in partitions_analyze_young()  # until it doubles


@pytest.mark.django_db(transaction=True)
def test_a_partition_is_analyzed_again_each_time_its_rows_double(workspace, settings):
    settings.PARTITION_ANALYZE_MIN_ROWS = 1000
    start = date(2032, 8, 1)
    partition_ensure(Lead, start=start, months=1)
    _fill(workspace, start, 900)
    assert "leads_lead_p203208" not in partitions_analyze_young()  # too few to matter
    assert not _analyzed("leads_lead_p203208")
    _fill(workspace, start, 300, first=900)
    assert "leads_lead_p203208" in partitions_analyze_young()  # 1,200, never analyzed
    _fill(workspace, start, 1000, first=1200)
    assert "leads_lead_p203208" not in partitions_analyze_young()  # 2,200 < 2 x 1,200
    _fill(workspace, start, 300, first=2200)
    assert "leads_lead_p203208" in partitions_analyze_young()  # 2,500: doubled


def test_beat_runs_the_young_partitions_analysis_every_few_seconds():
    from core.schedules import SCHEDULES

    [spec] = [s for s in SCHEDULES if s["task"] == partitions_analyze_task.name]
    assert spec["interval_seconds"] <= 10
