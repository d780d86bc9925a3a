"""Nothing is pushed to VICIdial for a lead that must not be contacted, whatever the timing.

Checked from the VICIdial double's own record of the requests it received."""

import pytest

from dialer import services
from dialer.models import OutboxItem
from dialer.services.pipeline import items_claim
from dialer.services.record import outcomes_record
from dialer.services.send import item_send
from leads.models import Lead, LeadEvent, Suppression
from leads.services import lead_update, leads_mark_dnc, suppression_add
from routing import services as routing_services
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


def adds_for(vici, lead_id: int) -> list[dict]:
    return [
        r
        for r in vici.state.requests
        if r.get("function") == "add_lead" and r.get("vendor_lead_code") == str(lead_id)
    ]


def vici_status(vici, lead_id: int) -> str:
    return vici.state.leads[Lead.objects.get(pk=lead_id).vici_lead_id]["status"]


def drain(server):
    return services.outbox_drain(server_id=server.pk)


def test_routing_skips_a_lead_suppressed_after_intake(workspace, vici_list, server, vici):
    make_rule("all", destinations=[{"workspace": workspace, "vici_list": vici_list}])
    kept, blocked = make_leads(workspace, 2)
    # Straight into the table (a service would also mark the lead): routing must see it.
    Suppression.objects.create(kind="phone", value=Lead.objects.get(pk=blocked).phone)
    stats = routing_services.route_pending(worker_id="t")
    assert (stats.routed, stats.suppressed) == (1, 1)
    lead = Lead.objects.get(pk=blocked)
    assert lead.status == "suppressed" and lead.destination_workspace_id is None
    assert LeadEvent.objects.filter(lead_id=blocked, kind="suppressed").exists()
    drain(server)
    assert adds_for(vici, kept) and not adds_for(vici, blocked)


def test_a_suppression_between_routing_and_push_cancels_the_add_at_claim(
    workspace, vici_list, server, vici
):
    ids = make_leads(workspace, 2, email="x@example.com")
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    # Added straight to the table (no status change): the claim itself must see it.
    Suppression.objects.create(kind="email", value="x@example.com", workspace=None)
    stats = drain(server)
    assert stats.sent == 0
    assert not [r for r in vici.state.requests if r.get("function") == "add_lead"]
    items = OutboxItem.objects.filter(lead_id__in=ids)
    assert set(items.values_list("state", flat=True)) == {"cancelled"}
    assert "do-not-contact" in items.first().last_error
    assert LeadEvent.objects.filter(lead_id__in=ids, kind="push_cancelled").count() == 2


def test_dnc_while_an_add_waits_cancels_it(
    workspace, vici_list, server, vici, django_capture_on_commit_callbacks
):
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    with django_capture_on_commit_callbacks(execute=True):
        leads_mark_dnc(lead_ids=[lead_id], reason="STOP", actor="device:1", source="opt-out")
    assert OutboxItem.objects.get(lead_id=lead_id, operation="add").state == "cancelled"
    drain(server)
    assert not adds_for(vici, lead_id)
    # and the number is on VICIdial's DNC list
    assert Lead.objects.get(pk=lead_id).phone[2:] in vici.state.dnc


def test_dnc_while_the_add_is_in_flight_makes_the_vici_lead_dnc(
    workspace, vici_list, server, vici, django_capture_on_commit_callbacks
):
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    [claimed] = items_claim(server.pk, 10)  # the add is on its way to VICIdial
    with django_capture_on_commit_callbacks(execute=True):
        leads_mark_dnc(lead_ids=[lead_id], reason="STOP", actor="device:1", source="opt-out")
    out = item_send(services.client_for(server), claimed, {vici_list.pk: vici_list})
    outcomes_record([out], {claimed["id"]: 1}, {claimed["id"]: 1001}, server.pk)
    assert vici_status(vici, lead_id) == "NEW"  # it got there before the DNC ...
    assert drain(server).sent == 2  # ... and the DNC status and DNC list follow at once
    assert vici_status(vici, lead_id) == "DNC"
    assert Lead.objects.get(pk=lead_id).phone[2:] in vici.state.dnc


def test_a_patch_to_a_suppressed_phone_suppresses_the_lead_and_pushes_nothing(
    workspace, vici_list, server, vici, django_capture_on_commit_callbacks
):
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    assert drain(server).sent == 1
    suppression_add(kind="phone", value="+14155550142", workspace_id=workspace.pk)
    requests_before = len(vici.state.requests)
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_update(
            lead=Lead.objects.get(pk=lead_id), data={"phone": "(415) 555-0142"}, actor="t"
        )
    assert lead.status == "suppressed"
    assert not OutboxItem.objects.filter(lead_id=lead_id, operation="update").exists()
    drain(server)
    sent = vici.state.requests[requests_before:]
    assert sorted(r["function"] for r in sent) == ["add_dnc_phone", "update_lead"]
    [status] = [r for r in sent if r["function"] == "update_lead"]
    assert status["status"] == "DNC" and "phone_number" not in status
    assert vici_status(vici, lead_id) == "DNC"
    # the DNC list gets the number the lead had when it was suppressed: the new one
    assert vici.state.dnc == {"4155550142"}


def test_a_new_suppression_makes_matching_leads_suppressed(
    workspace, partner_workspace, django_capture_on_commit_callbacks
):
    [mine] = make_leads(workspace, 1, email="same@example.com")
    [theirs] = make_leads(partner_workspace, 1, email="same@example.com")
    suppression_add(kind="email", value="SAME@example.com", workspace_id=workspace.pk)
    assert Lead.objects.get(pk=mine).status == "suppressed"
    assert Lead.objects.get(pk=theirs).status == "pending"  # another workspace's list
    suppression_add(kind="email", value="same@example.com")  # global
    assert Lead.objects.get(pk=theirs).status == "suppressed"
