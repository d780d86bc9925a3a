"""A list must exist: every add (and move) carries ``list_exists_check=Y``; a list VICIdial
does not have fails the item for good and raises an alert on the server, shown in admin."""

import pytest
import requests

from dialer import services
from dialer.models import OutboxItem, ViciList, ViciServer
from leads.models import Lead, LeadEvent
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

MISSING = "ERROR: add_lead NOT A DEFINED LIST ID, LIST EXISTS CHECK ENABLED - 4152006002|4242\n"


def add_lead(vici, **extra) -> str:
    form = {
        "function": "add_lead",
        "user": "crmapi",
        "pass": "Secret123",
        "source": "lb",
        "phone_number": "4152006002",
        "list_id": "4242",
        **extra,
    }
    return requests.post(vici.url, data=form, timeout=5).text


def test_the_double_adds_to_an_undefined_list_unless_the_check_is_asked(vici):
    assert add_lead(vici).startswith("SUCCESS: add_lead LEAD HAS BEEN ADDED - 4152006002|4242|")
    assert add_lead(vici, list_exists_check="Y", phone_number="4152006002") == MISSING
    assert add_lead(vici, list_exists_check="y") == MISSING  # matched like the real /Y/i


@pytest.fixture
def missing_list(server) -> ViciList:
    return ViciList.objects.create(server=server, list_id=4242, name="Typo", campaign_id="X")


def test_a_missing_list_fails_the_item_and_alerts_the_server(
    workspace, server, vici_list, missing_list, vici, admin_client
):
    lost = make_leads(workspace, 2)
    kept = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=lost, vici_list_id=missing_list.pk)
    services.outbox_enqueue_add(lead_ids=kept, vici_list_id=vici_list.pk)
    stats = services.outbox_drain(server_id=server.pk)
    assert (stats.sent, stats.failed) == (1, 2)
    adds = [r for r in vici.state.requests if r["function"] == "add_lead"]
    assert {r["list_exists_check"] for r in adds} == {"Y"}
    assert [lead["list_id"] for lead in vici.state.leads.values()] == [1001]
    items = OutboxItem.objects.filter(lead_id__in=lost)
    assert set(items.values_list("state", flat=True)) == {"failed"}
    assert "NOT A DEFINED LIST ID" in items.first().last_response
    for lead in Lead.objects.filter(pk__in=lost):
        assert lead.vici_lead_id is None
    event = LeadEvent.objects.filter(lead_id=lost[0], kind="push_failed").get()
    assert event.message == "VICIdial push failed: the VICIdial list does not exist"
    assert event.data == {"code": "list_missing", "operation": "add"}
    server.refresh_from_db()
    assert server.alert.count("VICIdial has no list 4242 (Typo)") == 1  # once, not per lead

    page = admin_client.get("/admin/dialer/viciserver/").content.decode()
    assert "ALERT: VICIdial has no list 4242 (Typo)" in page
    form = admin_client.get(f"/admin/dialer/viciserver/{server.pk}/change/").content.decode()
    assert "VICIdial has no list 4242 (Typo)" in form
    admin_client.post(
        "/admin/dialer/viciserver/", {"action": "clear_alert", "_selected_action": [server.pk]}
    )
    assert ViciServer.objects.get(pk=server.pk).alert == ""


def test_once_the_list_exists_a_retry_goes_through(workspace, server, missing_list, vici):
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=missing_list.pk)
    services.outbox_drain(server_id=server.pk)
    vici.add_list(4242, "X")
    services.outbox_retry_all_failed(server_id=server.pk)
    assert services.outbox_drain(server_id=server.pk).sent == 1
    assert Lead.objects.get(pk=lead_id).vici_list_number == 4242


def test_a_move_to_a_missing_list_fails_and_the_lead_stays_put(
    workspace, server, vici_list, missing_list, vici
):
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    assert services.outbox_drain(server_id=server.pk).sent == 1
    services.outbox_enqueue_move(lead_ids=[lead_id], vici_list_id=missing_list.pk)
    assert services.outbox_drain(server_id=server.pk).failed == 1
    move = vici.state.requests[-1]
    assert (move["function"], move["list_exists_check"]) == ("update_lead", "Y")
    lead = Lead.objects.get(pk=lead_id)
    assert vici.state.leads[lead.vici_lead_id]["list_id"] == 1001
    assert lead.vici_list_number == 1001
    assert "VICIdial has no list 4242" in ViciServer.objects.get(pk=server.pk).alert
