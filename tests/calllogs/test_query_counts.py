"""Query counts that must not grow with the number of rows (no query per row)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calllogs import services
from calllogs.models import CallLog, WebhookEvent
from calllogs.services import CallRecord
from dialer.models import ViciServer
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

EPOCH = int((timezone.now() - timedelta(hours=3)).timestamp())


@pytest.mark.parametrize("rows", [3, 20])
def test_webhook_event_changelist_queries_do_not_grow_with_rows(
    admin_client, rows, django_assert_max_num_queries
):
    for n in range(rows):  # a server each: the server column must not cost a query a row
        server = ViciServer.objects.create(name=f"vici-{n}", api_url="http://vici/", api_user="u")
        WebhookEvent.objects.create(server=server, params={"uniqueid": f"{EPOCH}.{n}"})
    # session, user, the server filter's choices, two counts, the page
    with django_assert_max_num_queries(6):
        page = admin_client.get("/admin/calllogs/webhookevent/")
    assert page.status_code == 200
    assert len(page.context["cl"].result_list) == rows
    assert "vici-0" in page.content.decode()


@pytest.mark.parametrize("calls", [3, 30])
def test_lead_calls_api_queries_do_not_grow_with_calls(
    api_client, workspace, dispositions, calls, django_assert_max_num_queries
):
    server = ViciServer.objects.create(name="vici", api_url="http://vici/", api_user="u")
    [lead_id] = make_leads(workspace, 1)
    records = [
        CallRecord(uniqueid=f"{EPOCH + n}.{n}", vendor_lead_code=str(lead_id), status="NA")
        for n in range(calls)
    ]
    services.call_log_upsert_many(server_id=server.pk, records=records, path="sync")
    # the key and its last use, the lead, its calls
    with django_assert_max_num_queries(4):
        response = api_client.get(f"/api/v1/leads/{lead_id}/calls/")
    assert response.status_code == 200 and len(response.json()) == calls


@pytest.mark.parametrize("events", [5, 50])
def test_the_drain_of_a_batch_costs_the_same_at_5_or_50_events(
    workspace, dispositions, events, django_assert_max_num_queries
):
    server = ViciServer.objects.create(name="vici", api_url="http://vici/", api_user="u")
    ids = make_leads(workspace, events)
    statuses = ["SALE", "NI", "NA", "CALLBK", "DNC"]
    for n, lead_id in enumerate(ids):
        params = {"kind": "dispo", "uniqueid": f"{EPOCH + n}.{n}", "dispo": statuses[n % 5]}
        WebhookEvent.objects.create(server=server, params={**params, "lead_id": str(n + 1)})
        WebhookEvent.objects.create(
            server=server, params={**params, "vendor_lead_code": str(lead_id)}
        )
    # claim, dispositions, leads by vendor code and by Vici id, stored calls (twice), locks,
    # two rounds of the upsert, events, do-not-contact (suppressions, events, status), the
    # latest calls, kept statuses, a status change per status, savepoints, the empty claim:
    # 48 at 5 events and at 50
    with django_assert_max_num_queries(50):
        assert services.webhook_events_drain() == 2 * events
    assert CallLog.objects.count() == events
