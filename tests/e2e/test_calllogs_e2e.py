"""The hourly sync task on a real worker reads the Vici database into call logs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calllogs.models import CallLog
from calllogs.tasks import sync_all_task
from leads.models import Lead
from tests.e2e.conftest import wait_until
from tests.routing.factories import make_leads

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_syncs_calls_and_dispositions(workspace, call_server, vici_db, celery_worker):
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(vici_lead_id=31)
    epoch = int((timezone.now() - timedelta(minutes=30)).timestamp())
    vici_db.add_call(uniqueid=f"{epoch}.1", lead_id=31, status="SALE", length=40)
    celery_worker("calllogs")
    sync_all_task.delay()
    wait_until(lambda: CallLog.objects.filter(lead_id=lead_id).exists(), what="the synced call")
    wait_until(lambda: Lead.objects.get(pk=lead_id).status == "sale", what="the lead closed")


def test_a_webhook_event_is_applied_by_a_woken_worker_within_seconds(
    client, workspace, call_server, celery_worker
):
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(vici_lead_id=32)
    celery_worker("calllogs")
    epoch = int((timezone.now() - timedelta(minutes=1)).timestamp())
    response = client.get(
        "/webhooks/vici/call/",
        {
            "server": call_server.pk,
            "token": call_server.hook.token,
            "kind": "dispo",
            "uniqueid": f"{epoch}.9",
            "lead_id": "32",
            "vendor_lead_code": str(lead_id),
            "dispo": "SALE",
            "talk_time": "30",
            "user": "agent1",
        },
    )
    assert response.json() == {"ok": True, "queued": True}
    wait_until(
        lambda: CallLog.objects.filter(lead_id=lead_id, status="SALE").exists(),
        seconds=30,
        what="the event applied by the woken worker",
    )
    wait_until(lambda: Lead.objects.get(pk=lead_id).status == "sale", what="the lead closed")


def test_a_failing_server_does_not_stop_the_hourly_sync_of_the_others(
    workspace, call_server, vici_db, celery_worker
):
    import socket

    from calllogs.models import ServerHook
    from dialer.models import ViciServer

    with socket.socket() as sock:  # a database that refuses connections
        sock.bind(("127.0.0.1", 0))
        broken = ViciServer.objects.create(  # first by name: the old loop stopped here
            name="a-broken",
            api_url="http://127.0.0.1:9/",
            api_user="u",
            db_url=f"mysql://r:pw@127.0.0.1:{sock.getsockname()[1]}/asterisk",
        )
        [lead_id] = make_leads(workspace, 1)
        epoch = int((timezone.now() - timedelta(minutes=30)).timestamp())
        vici_db.add_call(
            uniqueid=f"{epoch}.2", lead_id=33, status="SALE", vendor_lead_code=str(lead_id)
        )
        celery_worker("calllogs")
        sync_all_task.delay()
        wait_until(lambda: CallLog.objects.filter(lead_id=lead_id).exists(), what="the good sync")
        wait_until(
            lambda: ServerHook.objects.filter(
                server=broken, last_error__startswith="Sync"
            ).exists(),
            what="the broken server's error on its hook",
        )
