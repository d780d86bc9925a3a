"""Whose call is it: a Vici lead's calls go to the lead named by its vendor_lead_code, before
any lookup by Vici lead id, by every path and in every order; two of our leads may share a
Vici lead or a phone, and then nothing is guessed."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from calllogs import services
from calllogs.models import CallLog
from calllogs.services import CallRecord
from dialer.models import ViciList
from leads.models import Lead, LeadEvent
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

EPOCH = int((timezone.now() - timedelta(hours=3)).timestamp())
UID = f"{EPOCH}.5150"


@pytest.fixture
def twins(workspace, partner_workspace, call_server):
    """Two of our leads with one phone on one Vici lead (8): ``ours`` was pushed (Vici lead
    8 carries its id as vendor_lead_code), ``other`` got linked to the same Vici lead and
    has the lower id."""
    [other] = make_leads(partner_workspace, 1)
    [ours] = make_leads(workspace, 1)
    assert other < ours
    ViciList.objects.create(server=call_server, list_id=1001, campaign_id="C", name="L1")
    ViciList.objects.create(server=call_server, list_id=1002, campaign_id="C", name="L2")
    Lead.objects.filter(pk=ours).update(vici_lead_id=8, vici_list_number=1001)
    Lead.objects.filter(pk=other).update(vici_lead_id=8, vici_list_number=1002)
    return ours, other


def test_the_vendor_code_decides_before_the_vici_lead_id(call_server, twins):
    ours, other = twins
    record = CallRecord(uniqueid=UID, vici_lead_id=8, vendor_lead_code=str(ours), status="SALE")
    services.call_log_upsert_many(server_id=call_server.pk, records=[record], path="webhook")
    assert CallLog.objects.get().lead_id == ours
    assert Lead.objects.get(pk=ours).status == "sale"
    assert Lead.objects.get(pk=other).status != "sale"


def test_a_shared_vici_lead_without_a_vendor_code_is_narrowed_by_list_or_left_alone(
    call_server, twins
):
    ours, other = twins
    in_list = CallRecord(uniqueid=UID, vici_lead_id=8, list_id=1002, status="NA")
    nowhere = CallRecord(uniqueid=f"{EPOCH + 1}.1", vici_lead_id=8, status="NA")
    services.call_log_upsert_many(
        server_id=call_server.pk, records=[in_list, nowhere], path="webhook"
    )
    leads = dict(CallLog.objects.values_list("uniqueid", "lead_id"))
    assert leads == {UID: other, f"{EPOCH + 1}.1": None}


def test_every_order_of_paths_ends_with_the_vendor_codes_lead(call_server, twins):
    ours, other = twins
    variants = {  # a No-Agent URL has no vendor code; the sync brings it from vicidial_list
        "webhook": CallRecord(uniqueid=UID, vici_lead_id=8, list_id=1001, status=""),
        "sync": CallRecord(uniqueid=UID, vici_lead_id=8, vendor_lead_code=str(ours), status="NI"),
        "reconcile": CallRecord(uniqueid=UID, vici_lead_id=8, list_id=1001, status="NI"),
    }
    for order in itertools.permutations(variants):
        CallLog.objects.all().delete()
        Lead.objects.filter(pk__in=twins).update(status="routed")
        for path in order:
            services.call_log_upsert_many(
                server_id=call_server.pk, records=[variants[path]], path=path
            )
        call = CallLog.objects.get()
        assert (call.lead_id, call.lead_match) == (ours, 3), order
        assert Lead.objects.get(pk=ours).status == "not_interested", order
    assert LeadEvent.objects.filter(lead_id=ours, kind="dispositioned").exists()
    assert not LeadEvent.objects.filter(lead_id=other).exclude(kind="created").exists()


def test_the_sync_reads_the_vendor_code_of_the_vici_lead(call_server, twins, vici_db):
    ours, other = twins
    vici_db.add_call(uniqueid=UID, lead_id=8, status="SALE", vendor_lead_code=str(ours))
    services.calllogs_sync(server_id=call_server.pk)
    assert CallLog.objects.get().lead_id == ours
    assert Lead.objects.get(pk=ours).status == "sale"


def test_vici_lead_ids_of_another_server_are_not_ours(call_server, twins, workspace):
    ours, other = twins
    from dialer.models import ViciServer

    elsewhere = ViciServer.objects.create(
        name="vici-2", api_url="http://127.0.0.1:9/", api_user="u"
    )
    ViciList.objects.create(server=elsewhere, list_id=2001, campaign_id="C", name="L")
    [third] = make_leads(workspace, 1)
    Lead.objects.filter(pk=third).update(vici_lead_id=8, vici_list_number=2001)
    record = CallRecord(uniqueid=UID, vici_lead_id=8, list_id=1001, status="NA")
    services.call_log_upsert_many(server_id=elsewhere.pk, records=[record], path="webhook")
    assert CallLog.objects.get().lead_id == third  # the one holder on that server
