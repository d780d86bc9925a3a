"""One Vici lead, one of ours: a duplicate that names a Vici lead another of our leads holds
(e.g. another workspace's lead with the same phone) is not linked."""

import pytest

from dialer import services
from dialer.client import ViciClient
from dialer.models import OutboxItem, ViciList
from leads.models import Lead, LeadEvent
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

PHONE = "+14155550100"


def drain(server):
    return services.outbox_drain(server_id=server.pk)


def assert_not_linked(lead_id: int, other_lead_id: int, vici_lead_id: int) -> None:
    assert Lead.objects.get(pk=lead_id).vici_lead_id is None
    item = OutboxItem.objects.get(lead_id=lead_id, operation="add")
    assert item.state == "failed" and item.vici_lead_id is None
    assert "DUPLICATE PHONE NUMBER" in item.last_response
    event = LeadEvent.objects.get(lead_id=lead_id, kind="push_failed")
    assert event.message == (
        "Not linked: the VICIdial lead holding this phone belongs to another lead here"
    )
    assert event.data == {
        "code": "vici_lead_taken",
        "operation": "add",
        "other_lead_id": other_lead_id,
        "vici_lead_id": vici_lead_id,
    }
    assert not LeadEvent.objects.filter(lead_id=lead_id, kind="pushed").exists()


def test_another_workspaces_lead_with_the_same_phone_is_not_linked(
    workspace, partner_workspace, server, vici_list, vici
):
    [ours] = make_leads(workspace, 1, phone=PHONE)
    services.outbox_enqueue_add(lead_ids=[ours], vici_list_id=vici_list.pk)
    assert drain(server).sent == 1
    vici_lead_id = Lead.objects.get(pk=ours).vici_lead_id
    [theirs] = make_leads(partner_workspace, 1, phone=PHONE)
    services.outbox_enqueue_add(lead_ids=[theirs], vici_list_id=vici_list.pk)
    stats = drain(server)
    assert (stats.sent, stats.failed) == (0, 1)
    assert_not_linked(theirs, ours, vici_lead_id)
    assert Lead.objects.get(pk=ours).vici_lead_id == vici_lead_id  # untouched
    assert len(vici.state.leads) == 1


def test_two_of_our_leads_with_one_phone_in_one_chunk(
    workspace, partner_workspace, server, vici_list, vici
):
    """The second add's duplicate names the Vici lead the first add created a moment
    before, in the same recorded chunk."""
    [first] = make_leads(workspace, 1, phone=PHONE)
    [second] = make_leads(partner_workspace, 1, phone=PHONE)
    services.outbox_enqueue_add(lead_ids=[first, second], vici_list_id=vici_list.pk)
    server.max_concurrency = 1
    server.save()
    stats = drain(server)
    assert (stats.sent, stats.failed) == (1, 1)
    [vici_lead_id] = vici.state.leads
    assert Lead.objects.get(pk=first).vici_lead_id == vici_lead_id
    assert_not_linked(second, first, vici_lead_id)


def test_a_campaign_duplicate_in_another_list_is_not_linked_either(
    workspace, partner_workspace, server, vici_list, vici
):
    ViciList.objects.create(
        server=server, list_id=1002, campaign_id="TESTCAMP", name="Camp", duplicate_check="DUPCAMP"
    )
    camp = ViciList.objects.get(list_id=1002)
    [ours] = make_leads(workspace, 1, phone=PHONE)
    services.outbox_enqueue_add(lead_ids=[ours], vici_list_id=vici_list.pk)
    drain(server)
    [theirs] = make_leads(partner_workspace, 1, phone=PHONE)
    services.outbox_enqueue_add(lead_ids=[theirs], vici_list_id=camp.pk)
    assert drain(server).failed == 1
    assert "IN CAMPAIGN LISTS" in OutboxItem.objects.get(lead_id=theirs).last_response
    assert_not_linked(theirs, ours, Lead.objects.get(pk=ours).vici_lead_id)


def test_a_vici_lead_none_of_ours_holds_is_linked(workspace, server, vici_list, vici):
    """The call center loaded the number itself: linking to it is right (and so is our own
    earlier add whose answer was lost, see test_services)."""
    loaded = ViciClient(url=vici.url, user="crmapi", password="Secret123", source="cc", timeout=2)
    existing = loaded.add_lead(phone_number=PHONE[2:], phone_code="1", list_id=1001).lead_id
    [ours] = make_leads(workspace, 1, phone=PHONE)
    services.outbox_enqueue_add(lead_ids=[ours], vici_list_id=vici_list.pk)
    assert drain(server).sent == 1
    assert Lead.objects.get(pk=ours).vici_lead_id == existing
    assert "linked" in LeadEvent.objects.get(lead_id=ours, kind="pushed").message
