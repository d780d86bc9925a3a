"""VICIdial's DNC lists: every add is checked against them, a refusal makes the lead
do-not-contact here, and a lead that becomes DNC or suppressed here puts its number on the
DNC list of every VICIdial server (``add_dnc_phone``)."""

import pytest
import requests

from dialer import services
from dialer.client import ViciClient, ViciPermissionError
from dialer.models import OutboxItem, ViciList, ViciServer
from leads.models import Lead, LeadEvent, Suppression
from leads.services import lead_status_set, leads_mark_dnc
from simulators.vicidial import ViciSimulator
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


def post(vici, function: str, **params) -> str:
    form = {"function": function, "user": "crmapi", "pass": "Secret123", "source": "lb"}
    return requests.post(vici.url, data={**form, **params}, timeout=5).text


def national(lead_id: int) -> str:
    return Lead.objects.get(pk=lead_id).phone[2:]


# --- the double, exactly as VICIDIAL.md 3b and non_agent_api.php say -----------------------


def test_the_double_checks_the_system_dnc_list_only_when_asked(vici):
    vici.add_dnc("4152006001")
    lead = {"phone_number": "4152006001", "list_id": "1001"}
    assert post(vici, "add_lead", dnc_check="Y", **lead) == (
        "ERROR: add_lead PHONE NUMBER IN DNC - 4152006001|crmapi\n"
    )
    assert post(vici, "add_lead", dnc_check="y", **lead).startswith("SUCCESS: add_lead")  # [A-Z]
    vici.add_dnc("415XXXXXXX")
    other = {"phone_number": "4159990000", "list_id": "1001"}
    assert post(vici, "add_lead", dnc_check="AREACODE", **other).startswith(
        "ERROR: add_lead PHONE NUMBER IN DNC - 4159990000|"
    )


def test_the_double_checks_a_campaign_dnc_list_and_its_stand_in(vici):
    vici.add_dnc("4152006001", "OTHERCMP")
    vici.state.other_campaign_dnc["TESTCAMP"] = "OTHERCMP"  # use_other_campaign_dnc
    lead = {"phone_number": "4152006001", "list_id": "1001"}
    assert post(vici, "add_lead", dnc_check="Y", **lead).startswith("SUCCESS")  # not system
    assert post(vici, "add_lead", campaign_dnc_check="Y", campaign_id="TESTCAMP", **lead) == (
        "ERROR: add_lead PHONE NUMBER IN CAMPAIGN DNC - 4152006001|TESTCAMP|crmapi\n"
    )


def test_the_double_speaks_add_dnc_phone_exactly(vici):
    system = {"phone_number": "4152006001", "campaign_id": "SYSTEM_INTERNAL"}
    assert post(vici, "add_dnc_phone", **system) == (
        "SUCCESS: add_dnc_phone DNC NUMBER HAS BEEN ADDED - crmapi|4152006001|SYSTEM_INTERNAL\n"
    )
    assert vici.state.dnc == {"4152006001"}
    assert post(vici, "add_dnc_phone", **system) == (
        "ERROR: add_dnc_phone DNC NUMBER ALREADY EXISTS: |crmapi|4152006001|SYSTEM_INTERNAL\n"
    )
    assert post(vici, "add_dnc_phone", phone_number="4152006001", campaign_id="TESTCAMP") == (
        "SUCCESS: add_dnc_phone DNC NUMBER HAS BEEN ADDED - crmapi|4152006001|TESTCAMP\n"
    )
    assert vici.state.campaign_dnc == {"TESTCAMP": {"4152006001"}}
    assert post(vici, "add_dnc_phone", phone_number="41520") == (
        "ERROR: add_dnc_phone YOU MUST USE ALL REQUIRED FIELDS: |crmapi|41520|\n"
    )
    vici.state.users["crmapi"].modify_lists = False
    assert post(vici, "add_dnc_phone", **system) == (
        "ERROR: add_dnc_phone USER DOES NOT HAVE PERMISSION TO ADD DNC NUMBERS: |crmapi|0\n"
    )
    vici.state.users["crmapi"].allowed_functions = " add_lead update_lead "
    assert post(vici, "add_dnc_phone", **system) == (
        "ERROR: auth USER DOES NOT HAVE PERMISSION TO USE THIS FUNCTION: |crmapi|add_dnc_phone|\n"
    )


def test_the_client_adds_to_the_dnc_list_and_types_a_missing_permission(vici):
    client = ViciClient(url=vici.url, user="crmapi", password="Secret123", source="lb", timeout=2)
    first = client.add_dnc_phone(phone_number="(415) 200-6001")
    again = client.add_dnc_phone(phone_number="4152006001")
    assert (first.added, again.added, first.campaign_id) == (True, False, "SYSTEM_INTERNAL")
    vici.state.users["crmapi"].level = 7
    with pytest.raises(ViciPermissionError) as info:
        client.add_dnc_phone(phone_number="4152006002")
    assert not info.value.retryable


# --- a number on VICIdial's DNC list -------------------------------------------------------


def test_a_number_on_vicis_dnc_list_is_refused_and_the_lead_becomes_dnc_here(
    workspace, server, vici_list, other_list, vici, settings, django_capture_on_commit_callbacks
):
    settings.DIALER_BATCH_SIZE = 2
    [blocked, fine] = make_leads(workspace, 2)
    vici.add_dnc(national(blocked))
    services.outbox_enqueue_add(lead_ids=[blocked, fine], vici_list_id=vici_list.pk)
    services.outbox_enqueue_add(lead_ids=[blocked], vici_list_id=other_list.pk)  # not yet due
    with django_capture_on_commit_callbacks(execute=True):
        stats = services.outbox_drain(server_id=server.pk, max_batches=1)
    adds = [r for r in vici.state.requests if r["function"] == "add_lead"]
    assert {r["dnc_check"] for r in adds} == {"Y"}
    assert "campaign_dnc_check" not in adds[0]  # the list does not ask for it
    assert (stats.sent, stats.failed) == (1, 1)
    refused = OutboxItem.objects.get(lead_id=blocked, vici_list=vici_list)
    assert refused.state == "failed" and "PHONE NUMBER IN DNC" in refused.last_response
    assert OutboxItem.objects.get(lead_id=blocked, vici_list=other_list).state == "cancelled"
    assert [lead["vendor_lead_code"] for lead in vici.state.leads.values()] == [str(fine)]
    lead = Lead.objects.get(pk=blocked)
    assert lead.status == "dnc"
    assert Suppression.objects.filter(kind="phone", value=lead.phone).exists()
    event = LeadEvent.objects.get(lead_id=blocked, kind="push_failed")
    assert event.message == "VICIdial refused the lead: its phone is on VICIdial's DNC list"
    assert event.data == {"code": "vici_dnc", "operation": "add"}
    opted_out = LeadEvent.objects.get(lead_id=blocked, kind="opted_out")
    assert (opted_out.message, opted_out.actor) == (
        "The phone is on a VICIdial DNC list",
        "vicidial:dnc_list",
    )
    assert Lead.objects.get(pk=fine).status != "dnc"


def test_a_list_whose_campaign_keeps_a_dnc_list_checks_it(
    workspace, server, vici_list, vici, django_capture_on_commit_callbacks
):
    ViciList.objects.filter(pk=vici_list.pk).update(campaign_dnc_check=True)
    [blocked] = make_leads(workspace, 1)
    vici.add_dnc(national(blocked), "TESTCAMP")
    services.outbox_enqueue_add(lead_ids=[blocked], vici_list_id=vici_list.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.outbox_drain(server_id=server.pk).failed == 1
    add = next(r for r in vici.state.requests if r["function"] == "add_lead")
    assert (add["campaign_dnc_check"], add["campaign_id"]) == ("Y", "TESTCAMP")
    assert Lead.objects.get(pk=blocked).status == "dnc"
    assert LeadEvent.objects.get(lead_id=blocked, kind="push_failed").data["code"] == (
        "vici_campaign_dnc"
    )


def test_the_campaign_dnc_check_needs_the_lists_campaign(admin_client, server):
    data = {
        "server": server.pk,
        "list_id": "1003",
        "campaign_id": "",
        "name": "No campaign",
        "is_active": "on",
        "duplicate_check": "DUPLIST",
        "hopper_priority": "0",
        "campaign_dnc_check": "on",
    }
    response = admin_client.post("/admin/dialer/vicilist/add/", data)
    assert response.status_code == 200
    assert b"The campaign DNC check needs the list&#x27;s campaign id." in response.content
    assert not ViciList.objects.filter(list_id=1003).exists()


# --- DNC here: the number goes on VICIdial's DNC list ---------------------------------------


@pytest.fixture
def second_server(db):
    double = ViciSimulator().start()
    server = ViciServer.objects.create(
        name="vici2", api_url=double.url, api_user="crmapi", timeout_seconds=2
    )
    services.server_set_password(server=server, password="Secret123")
    yield server, double
    double.stop()


def test_a_lead_marked_dnc_here_goes_on_every_servers_dnc_list(
    workspace,
    server,
    vici_list,
    vici,
    second_server,
    admin_client,
    django_capture_on_commit_callbacks,
):
    other, other_vici = second_server
    [lead_id] = make_leads(workspace, 1)
    with django_capture_on_commit_callbacks(execute=True):
        leads_mark_dnc(lead_ids=[lead_id], reason="STOP", actor="device:1", source="opt-out")
    items = OutboxItem.objects.filter(lead_id=lead_id, operation="dnc")
    assert sorted(items.values_list("server__name", flat=True)) == ["vici1", "vici2"]
    assert items.first().payload == {"phone_code": "1", "phone_number": national(lead_id)}
    assert services.outbox_drain(server_id=server.pk).sent == 1
    assert services.outbox_drain(server_id=other.pk).sent == 1
    assert vici.state.dnc == other_vici.state.dnc == {national(lead_id)}
    dnc_calls = [r for r in vici.state.requests if r["function"] == "add_dnc_phone"]
    assert [(r["phone_number"], r["campaign_id"]) for r in dnc_calls] == [
        (national(lead_id), "SYSTEM_INTERNAL")
    ]
    events = LeadEvent.objects.filter(lead_id=lead_id, kind="pushed")
    assert {e.message for e in events} == {"Phone added to the VICIdial DNC list"}
    assert {e.data["vici_server_id"] for e in events} == {server.pk, other.pk}
    page = admin_client.get("/admin/dialer/outboxitem/?operation__exact=dnc").content.decode()
    assert "SUCCESS: add_dnc_phone DNC NUMBER HAS BEEN ADDED" in page
    assert "Add phone to the DNC list" in page
    # one per lead and server: marking it again, or suppressing it, adds nothing
    with django_capture_on_commit_callbacks(execute=True):
        lead_status_set(lead_ids=[lead_id], status="suppressed", reason="again", actor="t")
    assert services.outbox_enqueue_dnc(lead_ids=[lead_id]) == 0
    assert items.count() == 2


def test_a_suppressed_lead_goes_on_the_dnc_list_and_a_number_already_there_is_fine(
    workspace, server, vici, django_capture_on_commit_callbacks
):
    [lead_id] = make_leads(workspace, 1)
    vici.add_dnc(national(lead_id))
    with django_capture_on_commit_callbacks(execute=True):
        lead_status_set(lead_ids=[lead_id], status="suppressed", reason="list", actor="t")
    assert services.outbox_drain(server_id=server.pk).sent == 1
    item = OutboxItem.objects.get(lead_id=lead_id, operation="dnc")
    assert item.state == "sent" and "ALREADY EXISTS" in item.last_response
    assert LeadEvent.objects.get(lead_id=lead_id, kind="pushed").message == (
        "Phone already on the VICIdial DNC list"
    )


def test_an_api_user_without_the_permission_fails_the_item_and_alerts_the_server(
    workspace, server, vici, django_capture_on_commit_callbacks
):
    vici.state.users["crmapi"].modify_lists = False
    [lead_id] = make_leads(workspace, 1)
    with django_capture_on_commit_callbacks(execute=True):
        leads_mark_dnc(lead_ids=[lead_id], reason="STOP", actor="t", source="opt-out")
    assert services.outbox_drain(server_id=server.pk).failed == 1
    assert OutboxItem.objects.get(lead_id=lead_id, operation="dnc").state == "failed"
    assert "The API user may not use add_dnc_phone" in ViciServer.objects.get(pk=server.pk).alert
    event = LeadEvent.objects.get(lead_id=lead_id, kind="push_failed")
    assert event.data == {"code": "permission", "operation": "dnc"}


def test_stopping_a_dial_goes_ahead_of_a_backlog_of_adds(
    workspace, server, vici_list, vici, settings, django_capture_on_commit_callbacks
):
    settings.DIALER_BATCH_SIZE = 5
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 30), vici_list_id=vici_list.pk)
    [late] = make_leads(workspace, 1, email="late@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        leads_mark_dnc(lead_ids=[late], reason="STOP", actor="t", source="opt-out")
    services.outbox_drain(server_id=server.pk, max_batches=1)
    assert [r["function"] for r in vici.state.requests][0] == "add_dnc_phone"
    assert OutboxItem.objects.get(lead_id=late, operation="dnc").state == "sent"
