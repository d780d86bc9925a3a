from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.utils import timezone

from core.partitions import (
    archived_tables,
    partition_archive,
    partition_ensure,
    partitions_list,
)
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
