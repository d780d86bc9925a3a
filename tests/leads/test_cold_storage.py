"""Cold storage: archived months become gzip CSV files, leave the database, and the history
page and API say where a lead went."""

import csv
import gzip
import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.utils import timezone

from core import coldstorage
from core.errors import ApplicationError
from core.models import ColdPartition
from core.partitions import partition_archive, partition_ensure
from leads.models import Lead, LeadEvent
from leads.selectors import lead_history
from leads.services import EventSpec, lead_events_record, partitions_cold_store_old
from leads.tasks import cold_storage_task
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

OLD = datetime(2019, 7, 10, 12, tzinfo=UTC)


def _exists(qualified: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [qualified])
        return cursor.fetchone()[0] is not None


def archived_month(workspace, when: datetime, n: int = 3) -> list[Lead]:
    """``n`` leads with an event each in the month of ``when``, then archived."""
    for model in (Lead, LeadEvent):
        partition_ensure(model, start=when.date().replace(day=1), months=1)
    leads = [
        LeadFactory(workspace=workspace, created_at=when, first_name=f"Cold{i}", company="")
        for i in range(n)
    ]
    lead_events_record(
        events=[
            EventSpec(lead_id=lead.pk, kind="created", message="Old", at=when) for lead in leads
        ]
    )
    cutoff = datetime(when.year + (when.month // 12), when.month % 12 + 1, 1, tzinfo=UTC)
    for model in (Lead, LeadEvent):
        partition_archive(model, older_than=cutoff + timedelta(days=32))
    with connection.cursor() as cursor:
        # Run the deferred foreign-key checks now, as the commit would: PostgreSQL does not
        # drop a table with pending ones (only the test's one transaction has any).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return leads


@pytest.fixture
def cold(settings, tmp_path):
    settings.COLD_STORAGE_DIR = str(tmp_path)
    settings.COLD_STORAGE_AFTER_DAYS = 365
    settings.DEDUPE_WINDOW_DAYS = 30
    return tmp_path


def test_an_old_archived_month_is_exported_verified_and_dropped(workspace, cold):
    leads = archived_month(workspace, OLD)

    assert cold_storage_task() == 2  # the leads and the events of July 2019

    assert not _exists('"archive"."leads_lead_p201907"')
    assert not _exists('"archive"."leads_leadevent_p201907"')
    path = cold / "leads_lead_p201907.csv.gz"
    with gzip.open(path, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(r["id"]) for r in rows) == sorted(lead.pk for lead in leads)
    assert {r["first_name"] for r in rows} == {"Cold0", "Cold1", "Cold2"}
    assert {r["company"] for r in rows} == {""}
    assert {r["consent_at"] for r in rows} == {""}  # NULL
    manifest = json.loads((cold / "leads_lead_p201907.manifest.json").read_text())
    assert manifest["table"] == "leads_lead"
    assert manifest["month"] == "2019-07"
    assert manifest["rows"] == 3
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["columns"] == list(rows[0].keys())
    assert (manifest["id_min"], manifest["id_max"]) == (
        min(lead.pk for lead in leads),
        max(lead.pk for lead in leads),
    )
    record = ColdPartition.objects.get(partition="leads_lead_p201907")
    assert (record.rows, record.file_name, record.month) == (3, path.name, date(2019, 7, 1))


def test_history_answers_for_a_cold_lead(workspace, cold, api_client, admin_client):
    leads = archived_month(workspace, OLD)
    partitions_cold_store_old()
    lead = leads[1]
    ids = sorted(x.pk for x in leads)
    statement = (
        f"Lead {lead.pk} is in cold storage: lead ids {ids[0]}..{ids[-1]} of 2019-07 are in "
        "leads_lead_p201907.csv.gz"
    )

    for url in (f"/api/v1/leads/{lead.pk}/", f"/api/v1/leads/{lead.pk}/history/"):
        response = api_client.get(url)
        assert response.status_code == 410
        assert response.json()["code"] == "cold_storage"
        assert response.json()["message"].startswith(statement)
    page = admin_client.get(f"/leads/{lead.pk}/")
    assert page.status_code == 410 and statement in page.content.decode()
    assert statement in admin_client.get("/leads/", {"q": str(lead.pk)}).content.decode()
    assert api_client.get("/api/v1/leads/999999999/").status_code == 404  # not cold: unknown


def test_recent_archived_months_stay_in_the_database(workspace, cold):
    archived_month(workspace, OLD)
    recent = timezone.now() - timedelta(days=200)
    archived_month(workspace, recent, n=1)
    recent_name = f"leads_lead_p{recent:%Y%m}"

    planned = partitions_cold_store_old(dry_run=True)

    assert planned["leads.Lead"] == ["leads_lead_p201907"]
    assert _exists('"archive"."leads_lead_p201907"')  # a dry run moves nothing
    partitions_cold_store_old()
    assert _exists(f'"archive"."{recent_name}"')


def test_shorter_than_a_dedupe_window_is_refused(workspace, cold, settings):
    archived_month(workspace, OLD)
    with pytest.raises(ApplicationError, match="longest dedupe window \\(30 days"):
        partitions_cold_store_old(older_than_days=20)
    workspace.dedupe_window_days = 400
    workspace.save()
    with pytest.raises(ApplicationError, match="400 days, workspace acme"):
        partitions_cold_store_old()
    assert _exists('"archive"."leads_lead_p201907"')
    assert not ColdPartition.objects.exists()


def test_the_check_framework_refuses_the_setting(settings):
    settings.COLD_STORAGE_AFTER_DAYS = 10
    settings.DEDUPE_WINDOW_DAYS = 30
    with pytest.raises(SystemCheckError, match="leads.E001"):
        call_command("check")
    settings.COLD_STORAGE_AFTER_DAYS = 0  # off: nothing to refuse
    call_command("check")


def test_admin_refuses_a_workspace_window_past_cold_storage(admin_client, workspace, settings):
    settings.COLD_STORAGE_AFTER_DAYS = 365
    form = {
        "name": workspace.name,
        "slug": workspace.slug,
        "kind": workspace.kind,
        "timezone": "UTC",
        "is_active": "on",
        "dedupe_window_days": "400",
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
    }
    response = admin_client.post(f"/admin/leads/workspace/{workspace.pk}/change/", form)
    assert response.status_code == 200
    assert "COLD_STORAGE_AFTER_DAYS" in str(response.context["adminform"].form.errors)
    workspace.refresh_from_db()
    assert workspace.dedupe_window_days is None


def test_a_file_that_does_not_read_back_keeps_the_table(workspace, cold, monkeypatch):
    archived_month(workspace, OLD)
    real = coldstorage.file_check

    def short_read(path):
        check = real(path)
        return coldstorage.FileCheck(sha256=check.sha256, header=check.header, rows=check.rows - 1)

    monkeypatch.setattr(coldstorage, "file_check", short_read)
    with pytest.raises(ApplicationError, match="does not read back as written"):
        partitions_cold_store_old()
    assert _exists('"archive"."leads_lead_p201907"')
    assert not ColdPartition.objects.exists()


def test_off_when_zero_days(workspace, settings, cold):
    archived_month(workspace, OLD)
    settings.COLD_STORAGE_AFTER_DAYS = 0
    assert cold_storage_task() == 0
    assert _exists('"archive"."leads_lead_p201907"')


@pytest.mark.django_db(transaction=True)
def test_history_survives_a_partition_dropped_while_it_is_read(workspace, monkeypatch):
    lead = LeadFactory(workspace=workspace)
    lead_events_record(events=[EventSpec(lead_id=lead.pk, kind="created", message="Live")])
    from leads import selectors

    real = selectors.archived_tables
    calls = []

    def listed_then_gone(model, **kwargs):
        calls.append(model)
        if len(calls) == 1:  # listed, then moved to cold storage before the read
            return ['"archive"."leads_leadevent_p190001"']
        return real(model, **kwargs)

    monkeypatch.setattr(selectors, "archived_tables", listed_then_gone)
    assert [e.message for e in lead_history(lead_id=lead.pk)] == ["Live"]
    assert len(calls) == 2
