"""Reconciliation against VICIdial's real call tables reaches zero: after a repair run the
next run reports no drift, whatever the day holds (restarted recordings, calls dialed
before midnight and answered after it, both legs of a transfer, moved lists)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from calllogs import services
from calllogs.models import CallLog, ReconciliationRun, ServerHook
from calllogs.services import CallRecord
from calllogs.tasks import reconcile_yesterday_task
from core.errors import ApplicationError
from dialer.models import ViciServer
from leads.models import Lead
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

DAY = (timezone.now() - timedelta(days=3)).date()
MIDNIGHT = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1)


def uid(when: datetime, seq: int) -> str:
    return f"{int(when.timestamp())}.{seq}"


@pytest.fixture
def lead(workspace):
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(vici_lead_id=8)
    return lead_id


def reconcile(server, day=DAY) -> ReconciliationRun:
    return services.calllogs_reconcile(server_id=server.pk, day=day)


def counts(run: ReconciliationRun) -> tuple[int, int, int, int]:
    return run.vici_calls, run.missing, run.differing, run.drift_after


def test_a_call_with_two_recordings_is_one_call(call_server, lead, vici_db):
    first = uid(MIDNIGHT - timedelta(hours=5), 1)
    vici_db.add_call(uniqueid=first, lead_id=8, status="SALE", recording="")
    vici_db.add_recording(uniqueid=first, location="http://rec/first-part.mp3")
    vici_db.add_recording(uniqueid=first, location="http://rec/restarted.mp3")
    assert counts(reconcile(call_server)) == (1, 1, 0, 0)
    assert counts(reconcile(call_server)) == (1, 0, 0, 0)
    assert CallLog.objects.get().recording_url == "http://rec/restarted.mp3"


def test_a_call_dialed_before_midnight_and_answered_after_it_counts_on_its_dial_day(
    call_server, lead, vici_db
):
    late = uid(MIDNIGHT - timedelta(seconds=10), 2)
    vici_db.add_call(uniqueid=late, lead_id=8, status="NI", answered=int(MIDNIGHT.timestamp()) + 20)
    vici_db.add_call(uniqueid=uid(MIDNIGHT + timedelta(hours=1), 3), lead_id=8, status="NA")
    assert counts(reconcile(call_server)) == (1, 1, 0, 0)
    assert counts(reconcile(call_server, DAY + timedelta(days=1))) == (1, 1, 0, 0)
    for day in (DAY, DAY + timedelta(days=1)):
        assert counts(reconcile(call_server, day)) == (1, 0, 0, 0)


def test_both_legs_of_a_transfer_are_one_call(call_server, lead, vici_db):
    call = uid(MIDNIGHT - timedelta(hours=3), 4)
    vici_db.add_call(uniqueid=call, lead_id=8, status="XFER")
    vici_db.add_call(uniqueid=call, lead_id=8, status="SALE", inbound=True, list_id=1001)
    assert counts(reconcile(call_server)) == (1, 1, 0, 0)
    assert counts(reconcile(call_server)) == (1, 0, 0, 0)


def test_what_the_webhook_saw_differently_is_repaired_to_zero(call_server, lead, vici_db):
    moved = uid(MIDNIGHT - timedelta(hours=2), 5)
    changed = uid(MIDNIGHT - timedelta(hours=2), 6)
    vici_db.add_call(uniqueid=moved, lead_id=8, status="NA", list_id=1002)
    vici_db.add_call(uniqueid=changed, lead_id=8, status="QUEUE")  # left transient in Vici
    services.call_log_upsert_many(
        server_id=call_server.pk,
        path="webhook",
        records=[
            CallRecord(uniqueid=moved, vici_lead_id=8, list_id=1001, status="NA"),
            CallRecord(uniqueid=changed, vici_lead_id=8, list_id=1001, status="SALE"),
        ],
    )
    assert counts(reconcile(call_server)) == (2, 0, 2, 0)
    assert counts(reconcile(call_server)) == (2, 0, 0, 0)
    assert dict(CallLog.objects.values_list("uniqueid", "list_id")) == {
        moved: 1002,
        changed: 1001,
    }


def test_a_server_without_a_database_is_shown_as_not_reconcilable(admin_client, call_server):
    hook = ServerHook.objects.get(server=call_server)
    page = admin_client.get("/admin/calllogs/serverhook/").content.decode()
    assert "Not reconcilable: no database URL" in page
    page = admin_client.get(f"/admin/calllogs/serverhook/{hook.pk}/change/").content.decode()
    assert "Not reconcilable: no database URL" in page
    with pytest.raises(ApplicationError) as refused:
        reconcile(call_server)
    assert refused.value.code == "not_reconcilable"


def test_the_nightly_task_fans_out_one_task_per_server_with_a_database(
    call_server, monkeypatch, vici_db
):
    from calllogs import tasks

    without = ViciServer.objects.create(name="no-db", api_url="http://127.0.0.1:9/", api_user="u")
    queued = []
    monkeypatch.setattr(tasks.reconcile_server_task, "delay", lambda *args: queued.append(args))
    assert reconcile_yesterday_task() == 1
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert queued == [(call_server.pk, yesterday)] and without.pk not in queued[0]


def test_a_paused_server_is_not_reconciled(call_server, lead, vici_db):
    vici_db.add_call(uniqueid=uid(MIDNIGHT - timedelta(hours=5), 7), lead_id=8, status="SALE")
    ViciServer.objects.filter(pk=call_server.pk).update(
        paused_until=timezone.now() + timedelta(days=1), paused_reason="bad login"
    )
    assert reconcile(call_server) is None
    assert not CallLog.objects.exists() and not ReconciliationRun.objects.exists()
    assert "paused" in ServerHook.objects.get(server=call_server).last_error
